"""real.py: a Python program as an allocator workload (run with PYTHONMALLOC=malloc).

bench/run starts it as `python3 real.py N` under LD_PRELOAD with
PYTHONMALLOC=malloc, so every object, not only those above pymalloc's 512-byte
limit, comes from the allocator under test. The work mixes what Python
programs do most: build records as dicts, serialise and parse JSON, sort,
group into dicts of lists, join strings, and drop it all. N is the number of
records per round (default 45000); the output line is a CRC of the results,
the same under every allocator.
"""
import json
import sys
import zlib


def rounds(n):
    crc = 0
    state = 12345
    for r in range(4):
        records = []
        for i in range(n):
            state = (state * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
            records.append({
                "id": i,
                "name": "user%d-%x" % (i, state >> 40),
                "tags": ["t%d" % (state >> (k * 8) & 31) for k in range(state % 5)],
                "score": (state >> 16) % 100000 / 7.0,
            })
        text = json.dumps(records)
        back = json.loads(text)
        back.sort(key=lambda rec: (rec["score"], rec["name"]))
        groups = {}
        for rec in back:
            for t in rec["tags"]:
                groups.setdefault(t, []).append(rec["id"])
        summary = ";".join("%s:%d:%d" % (t, len(v), sum(v)) for t, v in sorted(groups.items()))
        crc = zlib.crc32(summary.encode(), crc)
        crc = zlib.crc32(",".join(rec["name"] for rec in back[:: max(1, n // 1000)]).encode(), crc)
        del records, text, back, groups
    return crc


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 45000
    print("python checksum=%016x ops=%d" % (rounds(n), 4 * n))


if __name__ == "__main__":
    main()
