"""`python -m mldock train|serve`: the container entrypoint (see mldock.runtime.entrypoint)."""

from mldock.runtime.entrypoint import console_main

if __name__ == "__main__":
    console_main()
