#!/usr/bin/python3
"""pyload - a pure-Python workload for the python3 benchmark.

    /usr/bin/python3 bench/workloads/pyload.py [SCALE]

Dictionary, list and string work as in everyday scripts: build a text,
count words in a dict, build an index of positions (dict of lists), format
records into strings and parse them back, sort tuples, make and drop many
small objects.  Deterministic (fixed seed); SCALE 1.0 runs in about two
seconds here.  Prints one line with a checksum, so a broken run shows.
"""

import random
import sys


class Record:
    __slots__ = ("key", "count", "tags")

    def __init__(self, key, count, tags):
        self.key = key
        self.count = count
        self.tags = tags


def run(scale):
    rng = random.Random(7)
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "qu", "ba", "do"]
    vocab = ["".join(rng.choice(syllables) for _ in range(rng.randrange(1, 5)))
             for _ in range(5000)]
    n_words = int(800000 * scale)
    words = [vocab[int(rng.paretovariate(1.2)) % len(vocab)] for _ in range(n_words)]
    text = " ".join(words)

    counts = {}
    for w in text.split():
        counts[w] = counts.get(w, 0) + 1

    index = {}
    for pos, w in enumerate(words):
        lst = index.get(w)
        if lst is None:
            index[w] = lst = []
        lst.append(pos)

    lines = ["%s;%d;%s" % (w, c, ",".join(str(p) for p in index[w][:8]))
             for w, c in counts.items()]
    checksum = 0
    for _ in range(int(600 * scale) or 1):
        parsed = []
        for line in lines:
            key, count, tags = line.split(";")
            parsed.append(Record(key.upper(), int(count), tags.split(",")))
        parsed.sort(key=lambda r: (-r.count, r.key))
        checksum += sum(len(r.tags) for r in parsed[:100]) + parsed[0].count

    pairs = sorted(((c, w) for w, c in counts.items()), reverse=True)
    bigrams = {}
    for a, b in zip(words, words[1:]):
        k = a + " " + b
        bigrams[k] = bigrams.get(k, 0) + 1
    top = sorted(bigrams.items(), key=lambda kv: kv[1], reverse=True)[:20]
    checksum += len(pairs) + sum(v for _, v in top) + len(index)
    return checksum


def main(argv):
    scale = float(argv[1]) if len(argv) > 1 else 1.0
    print("pyload checksum %d" % run(scale))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
