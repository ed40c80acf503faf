import time


class Retry:
    """Call a function again when it raises OSError."""

    def __init__(self, attempts=3, delay=0.5):
        self.attempts = attempts
        self.delay = delay

    def __call__(self, func, *args):
        for i in range(self.attempts):
            try:
                return func(*args)
            except OSError:
                time.sleep(self.delay)
        raise RuntimeError("giving up")
