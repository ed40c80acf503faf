def parse_pairs(text):
    assert isinstance(text, str)
    result = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        key, value = line.split("=", 1)
        result[key.strip()] = value.strip()
    return result
