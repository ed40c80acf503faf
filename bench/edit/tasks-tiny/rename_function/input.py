import os


def load_cfg(path):
    """Read a configuration file and return its lines."""
    with open(path) as f:
        return f.read().splitlines()


def main(argv):
    lines = load_cfg(argv[1])
    for line in lines:
        print(line)
    return 0
