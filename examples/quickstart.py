import os


def read_lines(path):
    """Return the lines of a text file, without their line endings."""
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def fibonacci(n):