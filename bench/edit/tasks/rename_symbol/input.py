import json


def load_cfg(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def merged_cfg(base_path, override_path):
    cfg = load_cfg(base_path)
    extra = load_cfg(override_path)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    return cfg


if __name__ == "__main__":
    import sys
    print(json.dumps(merged_cfg(sys.argv[1], sys.argv[2]), indent=2))
