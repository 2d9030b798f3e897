import sys

from ._main import main

if __name__ == "__main__":  # `python -m floral.cli`, as `python -m floral`
    sys.exit(main())
