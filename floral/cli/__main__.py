from ._main import run

if __name__ == "__main__":  # `python -m floral.cli`, as `python -m floral`
    run()
