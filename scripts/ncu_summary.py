"""Sums the kernel times of an `ncu --csv --print-units base --metrics
gpu__time_duration.sum` report by kernel name and prints the top ones.
Usage: ncu_summary.py REPORT.csv STEPS TITLE   (times divided by STEPS)"""
import collections
import csv
import io
import sys

path, steps, title = sys.argv[1], float(sys.argv[2]), sys.argv[3]
text = open(path).read()
rows = list(csv.DictReader(io.StringIO(text[text.find('"ID"'):])))
tot, cnt = collections.Counter(), collections.Counter()
for r in rows:
    if r.get("Metric Name") != "gpu__time_duration.sum":
        continue
    name = r["Kernel Name"][:90]
    tot[name] += float(r["Metric Value"].replace(",", "")) / 1e6 / steps  # ns -> ms per step
    cnt[name] += 1 / steps
print(f"{title}: total {sum(tot.values()):.1f} ms per step in {round(sum(cnt.values()))} launches")
for name, t in tot.most_common(30):
    print(f"  {t:8.2f} ms  {round(cnt[name]):4d}x  {name}")
