class Stack:
    def __init__(self):
        self.items = []

    def push(self, item):
        self.items.append(item)

    def pop(self):
        return self.items.pop()

    def is_empty(self):
        return not self.items


def drain(stack):
    out = []
    while not stack.is_empty():
        out.append(stack.pop())
    return out
