def moving_average(values, window):
    """Return the averages of each run of `window` consecutive values."""
    if window <= 0:
        raise ValueError("window must be positive")
    out = []
    total = 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        if i + 1 >= window:
            out.append(total / window)
    return out


def main():
    data = [1, 2, 3, 4, 5, 6, 7, 8]
    print(moving_average(data, 3))


if __name__ == "__main__":
    main()
