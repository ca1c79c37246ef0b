#!/usr/bin/env python3
"""Writes a corpus of real English sentences for the embedding benchmark: sentences from the docstrings
of the Python standard library installed here (prose written by people, 14 to 60 words each), parsed
with `ast` (nothing is imported or run), deduplicated, in a fixed order. Usage: corpus.py OUT [COUNT]."""

import ast
import os
import re
import sys
import sysconfig


def sentences():
    root = sysconfig.get_paths()["stdlib"]
    seen = set()
    for folder, dirs, files in sorted(os.walk(root)):
        dirs[:] = sorted(d for d in dirs if d not in ("test", "tests", "idlelib", "site-packages", "__pycache__"))
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            try:
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    tree = ast.parse(f.read())
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            for node in ast.walk(tree):
                if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                doc = ast.get_docstring(node)
                if not doc:
                    continue
                text = " ".join(doc.split())
                for sentence in re.split(r"(?<=[.!?])\s+", text):
                    words = sentence.split()
                    if not (14 <= len(words) <= 60) or not sentence[0].isupper() or not sentence.endswith("."):
                        continue
                    if sum(c.isalpha() or c == " " for c in sentence) < 0.85 * len(sentence):
                        continue   # code, tables, paths
                    if sentence not in seen:
                        seen.add(sentence)
                        yield sentence


def main():
    out, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1200
    chosen = []
    for sentence in sentences():
        chosen.append(sentence)
        if len(chosen) == count:
            break
    if len(chosen) < count:
        sys.exit("only %d sentences found" % len(chosen))
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(chosen) + "\n")
    words = sum(len(s.split()) for s in chosen)
    print("%d sentences, %.1f words each on average" % (len(chosen), words / len(chosen)))


if __name__ == "__main__":
    main()
