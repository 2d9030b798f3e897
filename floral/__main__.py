import sys

from .cli import main

if __name__ == "__main__":  # `python -m floral`; importing this module runs nothing
    sys.exit(main())
