"""zxing-cpp on the same inputs as benches/decode.rs, for a ratio on the same machine.

usage: python3 benches/zxing_cpp.py FRAMES_DIR [ZXING_LAYOUT_DIR]
Prints the same tables as the Rust bench: per symbology cases/read/misread/median/p95 ms
(one read_barcodes call per image, gray numpy buffer already in memory, zxing-cpp
defaults: all formats, try-harder), then per synthetic frame set the median ms.
Needs `pip install zxing-cpp pillow numpy`.
"""
import os
import sys
import time
import warnings

import numpy as np
import zxingcpp
from PIL import Image

FORMATS = {
    "code128": zxingcpp.BarcodeFormat.Code128,
    "code39": zxingcpp.BarcodeFormat.Code39,
    "qrcode": zxingcpp.BarcodeFormat.QRCode,
    "datamatrix": zxingcpp.BarcodeFormat.DataMatrix,
    "pdf417": zxingcpp.BarcodeFormat.PDF417,
}
NAMES = {"code128": "code128", "code39": "code39", "qrcode": "qr_code",
         "datamatrix": "data_matrix", "pdf417": "pdf417"}
ALL = list(FORMATS.values())


def gray(path):
    return np.asarray(Image.open(path).convert("L"))


def read(img):
    t0 = time.perf_counter()
    res = zxingcpp.read_barcodes(img, formats=ALL)
    return res, (time.perf_counter() - t0) * 1e3


def matches(r, expected):
    return r.text.encode("utf-8") == expected or r.bytes == expected or \
        (all(ord(c) < 256 for c in r.text) and r.text.encode("latin-1") == expected)


def pct(v, p):
    v = sorted(v)
    return v[round((len(v) - 1) * p)] if v else float("nan")


def cases(root):
    """Same grouping as benches/decode.rs: G-NN.png pieces form one case with G.txt/.bin."""
    for d in sorted(os.listdir(root)):
        key = d.split("-")[0]
        if key not in FORMATS:
            continue
        full = os.path.join(root, d)
        groups = {}
        for f in sorted(x for x in os.listdir(full) if x.endswith(".png")):
            stem = f[:-4]
            own = os.path.exists(os.path.join(full, stem + ".txt")) or \
                os.path.exists(os.path.join(full, stem + ".bin"))
            g, _, n = stem.partition("-")
            k = g if (not own and n.isdigit()) else stem
            groups.setdefault(k, []).append(os.path.join(full, f))
        for k, imgs in sorted(groups.items()):
            for ext in (".txt", ".bin"):
                p = os.path.join(full, k + ext)
                if os.path.exists(p):
                    yield key, imgs, open(p, "rb").read()
                    break


def main():
    warnings.simplefilter("ignore")
    frames = sys.argv[1]
    if len(sys.argv) > 2:
        tally = {}
        for key, imgs, expected in cases(sys.argv[2]):
            t = tally.setdefault(key, {"cases": 0, "read": 0, "misread": 0, "ms": []})
            t["cases"] += 1
            fmt = FORMATS[key]
            joined, ok, wrong = "", False, False
            for p in imgs:
                res, ms = read(gray(p))
                t["ms"].append(ms)
                mine = [r for r in res if r.format == fmt]
                if len(imgs) == 1:
                    if any(matches(r, expected) for r in mine):
                        ok = True
                    elif mine:
                        wrong = True
                elif mine:
                    joined += mine[0].text
            if len(imgs) > 1:
                ok = joined.encode("utf-8") == expected or \
                    (all(ord(c) < 256 for c in joined) and joined.encode("latin-1") == expected)
            t["read"] += ok
            t["misread"] += (not ok) and wrong
        print(f"{'format':<12} {'cases':>6} {'read':>6} {'misread':>8} {'median ms':>10} {'p95 ms':>10}")
        for key in ["code128", "code39", "datamatrix", "pdf417", "qrcode"]:
            if key in tally:
                t = tally[key]
                print(f"{NAMES[key]:<12} {t['cases']:>6} {t['read']:>6} {t['misread']:>8} "
                      f"{pct(t['ms'], .5):>10.2f} {pct(t['ms'], .95):>10.2f}")
    sets = {}
    for f in sorted(os.listdir(frames)):
        if f.endswith(".png"):
            parts = f[:-4].split("-")
            sets.setdefault(f"{parts[0]} {parts[1]}", []).append(os.path.join(frames, f))
    print(f"\n{'frame':<18} {'median ms':>10} {'p95 ms':>10} {'all 3 found':>14} "
          f"{'waybill read':>14} {'false':>6}")
    for name, files in sets.items():
        ms, complete, read_ok, false, labelled = [], 0, 0, 0, 0
        for p in files:
            img = gray(p)
            read(img)
            res, t = read(img)
            ms.append(t)
            complete += len(res) >= 3
            # A hard frame has X.txt beside it: the waybill, then every other text printed.
            txt = p[:-4] + ".txt"
            if os.path.exists(txt):
                labelled += 1
                printed = open(txt, encoding="utf-8").read().split("\n")
                texts = [r.text for r in res]
                read_ok += printed[0] in texts
                false += sum(1 for x in texts if x not in printed)
        rate = f"{read_ok}/{labelled}" if labelled else "-"
        print(f"{name:<18} {pct(ms, .5):>10.2f} {pct(ms, .95):>10.2f} {complete:>10}/{len(files)} "
              f"{rate:>14} {false if labelled else '-':>6}")


if __name__ == "__main__":
    main()
