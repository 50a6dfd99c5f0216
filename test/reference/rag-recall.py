#!/usr/bin/env python3
"""Recall@k of exact cosine search over the RAG corpus (test/data/rag/).

    rag-recall.py PASSAGE_EMB QUESTION_EMB [--k 5] [--min R] [--data DIR] [--misses]

PASSAGE_EMB and QUESTION_EMB hold one JSON float array per line, in the
order of DIR/passages.jsonl and DIR/questions.jsonl (DIR defaults to
test/data/rag beside this script), as `deepseek-r1 embed -m FILE` prints
them, or sentence-transformers written the same way:

    jq -r .text test/data/rag/passages.jsonl | deepseek-r1 embed -m MiniLM.gguf > p.emb
    jq -r .question test/data/rag/questions.jsonl | deepseek-r1 embed -m MiniLM.gguf > q.emb

A question counts as found when its answer_id is among the k passages most
cosine-similar to it (vectors are normalised here, so unnormalised input
is fine; ties are broken by the lower passage index).  A question's
"evidence", when present, must occur in its answer passage and in no other
(so a rebuilt corpus whose ids moved is caught).  Prints one line
"recall@K: FOUND/TOTAL = R"; with --misses also each question that missed
and where its passage ranked.  Exit status 1 when R is below --min, 2 on
bad input (a line count that does not match, differing dimensions, a zero
or non-finite vector).  Uses numpy when it is installed, plain Python
otherwise.
"""

import argparse
import json
import math
import os
import sys


def die(msg):
    print(f'rag-recall: {msg}', file=sys.stderr)
    sys.exit(2)


def read_jsonl(path):
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def read_vectors(path, count, what):
    vecs = []
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                v = [float(x) for x in json.loads(line)]
            except (ValueError, TypeError) as e:
                die(f'{path}:{n}: not a JSON array of numbers ({e})')
            norm = math.sqrt(sum(x * x for x in v))
            if not v or not math.isfinite(norm) or norm == 0:
                die(f'{path}:{n}: an empty, zero or non-finite vector')
            vecs.append([x / norm for x in v])
    if len(vecs) != count:
        die(f'{path}: {len(vecs)} vectors for {count} {what}')
    dims = {len(v) for v in vecs}
    if len(dims) != 1:
        die(f'{path}: vectors of differing dimensions {sorted(dims)}')
    return vecs


def ranks(pvecs, qvecs, targets):
    """The 0-based rank of each question's target passage."""
    try:
        import numpy as np
    except ImportError:
        np = None
    out = []
    if np is not None:
        p = np.asarray(pvecs, dtype=np.float64)
        sims = np.asarray(qvecs, dtype=np.float64) @ p.T
        for i, t in enumerate(targets):
            s = sims[i]
            # passages strictly more similar, or as similar with a lower index
            out.append(int(np.sum(s > s[t]) + np.sum(s[:t] == s[t])))
        return out
    for q, t in zip(qvecs, targets):
        s = [sum(a * b for a, b in zip(q, v)) for v in pvecs]
        out.append(sum(1 for j, x in enumerate(s) if x > s[t] or (x == s[t] and j < t)))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description='recall@k of exact cosine search over the RAG corpus')
    ap.add_argument('passage_emb')
    ap.add_argument('question_emb')
    ap.add_argument('--k', type=int, default=5)
    ap.add_argument('--min', type=float, default=None, help='fail (exit 1) below this recall')
    ap.add_argument('--data', default=os.path.join(here, '..', 'data', 'rag'))
    ap.add_argument('--misses', action='store_true', help='list the questions that missed')
    a = ap.parse_args()
    if a.k < 1:
        die('--k must be at least 1')

    passages = read_jsonl(os.path.join(a.data, 'passages.jsonl'))
    questions = read_jsonl(os.path.join(a.data, 'questions.jsonl'))
    index = {p['id']: i for i, p in enumerate(passages)}
    for q in questions:
        if q['answer_id'] not in index:
            die(f'answer_id {q["answer_id"]} is not a passage id')
        # the phrase that shows the answer is in that passage and no other
        if 'evidence' in q:
            hits = [p['id'] for p in passages if q['evidence'] in p['text']]
            if hits != [q['answer_id']]:
                die(f'evidence {q["evidence"]!r} of "{q["question"]}" is in passages {hits}, '
                    f'not only in {q["answer_id"]}')
    pvecs = read_vectors(a.passage_emb, len(passages), 'passages')
    qvecs = read_vectors(a.question_emb, len(questions), 'questions')
    if len(pvecs[0]) != len(qvecs[0]):
        die(f'passages have {len(pvecs[0])} dimensions, questions {len(qvecs[0])}')

    r = ranks(pvecs, qvecs, [index[q['answer_id']] for q in questions])
    found = sum(1 for x in r if x < a.k)
    recall = found / len(questions)
    print(f'recall@{a.k}: {found}/{len(questions)} = {recall:.3f}')
    if a.misses:
        for q, x in zip(questions, r):
            if x >= a.k:
                print(f'  miss (passage {q["answer_id"]} ranked {x + 1}): {q["question"]}')
    if a.min is not None and recall < a.min:
        sys.exit(1)


if __name__ == '__main__':
    main()
