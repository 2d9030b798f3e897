from .cli import run

if __name__ == "__main__":  # `python -m floral`; importing this module runs nothing
    run()
