def count_words(text):
    counts = {}
    for word in text.split():
        word = word.lower()
        counts[word] = counts.get(word, 0) + 1
    return counts


def top_words(text, n):
    counts = count_words(text)
    items = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)
    return items[:n]
