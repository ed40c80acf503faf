def count_words(text):
    totals = {}
    for word in text.split():
        word = word.lower()
        totals[word] = totals.get(word, 0) + 1
    return totals


def top_words(text, n):
    totals = count_words(text)
    items = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)
    return items[:n]
