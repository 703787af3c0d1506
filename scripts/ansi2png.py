#!/usr/bin/python3
"""Renders a terminal capture with ANSI colours (`tmux capture-pane -e -p`) to a PNG.

Usage: ansi2png.py CAPTURE.txt OUT.png [COLUMNS ROWS]
Needs Debian's python3-pil and fonts-dejavu-core (DejaVu Sans Mono).
"""
import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
# The xterm palette: 0-7 normal, 8-15 bright.
PALETTE = [
    (0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16),
    (36, 114, 200), (188, 63, 188), (17, 168, 205), (229, 229, 229),
    (102, 102, 102), (241, 76, 76), (35, 209, 139), (245, 245, 67),
    (59, 142, 234), (214, 112, 214), (41, 184, 219), (255, 255, 255),
]
BG = (24, 24, 24)
FG = (220, 220, 220)


def color256(n):
    if n < 16:
        return PALETTE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)


def cells(text, cols, rows):
    """Yields (row, col, char, fg, bg, bold) for every printed character."""
    fg, bg, bold, reverse, dim = FG, BG, False, False, False
    for r, line in enumerate(text.split("\n")[:rows]):
        c = 0
        for m in re.finditer(r"\x1b\[([0-9;]*)m|([^\x1b])", line):
            if m.group(2) is not None:
                if c < cols:
                    f, b = (bg, fg) if reverse else (fg, bg)
                    if dim:
                        f = tuple(x * 2 // 3 for x in f)
                    yield r, c, m.group(2), f, b, bold
                c += 1
                continue
            codes = [int(x) if x else 0 for x in m.group(1).split(";")]
            i = 0
            while i < len(codes):
                k = codes[i]
                if k == 0:
                    fg, bg, bold, reverse, dim = FG, BG, False, False, False
                elif k == 1:
                    bold = True
                elif k == 2:
                    dim = True
                elif k == 7:
                    reverse = True
                elif k == 22:
                    bold, dim = False, False
                elif k == 27:
                    reverse = False
                elif 30 <= k <= 37:
                    fg = PALETTE[k - 30]
                elif 90 <= k <= 97:
                    fg = PALETTE[k - 90 + 8]
                elif 40 <= k <= 47:
                    bg = PALETTE[k - 40]
                elif 100 <= k <= 107:
                    bg = PALETTE[k - 100 + 8]
                elif k == 39:
                    fg = FG
                elif k == 49:
                    bg = BG
                elif k in (38, 48) and i + 2 < len(codes) and codes[i + 1] == 5:
                    if k == 38:
                        fg = color256(codes[i + 2])
                    else:
                        bg = color256(codes[i + 2])
                    i += 2
                elif k in (38, 48) and i + 4 < len(codes) and codes[i + 1] == 2:
                    rgb = tuple(codes[i + 2:i + 5])
                    if k == 38:
                        fg = rgb
                    else:
                        bg = rgb
                    i += 4
                i += 1


def main():
    src, out = sys.argv[1], sys.argv[2]
    cols = int(sys.argv[3]) if len(sys.argv) > 3 else 80
    rows = int(sys.argv[4]) if len(sys.argv) > 4 else 24
    text = open(src, encoding="utf-8").read()
    size = 16
    font = ImageFont.truetype(FONT, size)
    bold_font = ImageFont.truetype(BOLD, size)
    w = int(font.getlength("M"))
    h = size + 4
    pad = 12
    img = Image.new("RGB", (cols * w + 2 * pad, rows * h + 2 * pad), BG)
    d = ImageDraw.Draw(img)
    for r, c, ch, f, b, bold in cells(text, cols, rows):
        x, y = pad + c * w, pad + r * h
        if b != BG:
            d.rectangle([x, y, x + w, y + h], fill=b)
        if ch != " ":
            d.text((x, y + 2), ch, font=bold_font if bold else font, fill=f)
    img.save(out)


if __name__ == "__main__":
    main()
