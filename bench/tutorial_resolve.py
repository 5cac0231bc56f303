#!/usr/bin/env python3
"""The tutorial's /nodes/resolve validation, timed on this machine.

The yardstick of the coinbase-only sync goal (docs/BENCHMARKS.md): the
"Learn Blockchains by Building One" tutorial's valid_chain and the JSON
parsing its resolve_conflicts does, on a chain of N blocks that its own
new_block/proof_of_work would build, each holding one transaction. Run:

    python3 bench/tutorial_resolve.py 10000 >/dev/null

Two figures go to stderr, best of three runs each: valid_chain as the
tutorial has it (three debug prints per block; they go to stdout, hence
>/dev/null), and without the prints. Both include parsing the neighbour's
/chain reply, twice, as resolve_conflicts does (response.json() is called
for 'length' and again for 'chain'). Nothing is persisted.
"""
import contextlib
import hashlib
import json
import sys
import time


def hash_block(block):
    return hashlib.sha256(json.dumps(block, sort_keys=True).encode()).hexdigest()


def valid_proof(last_proof, proof):
    return hashlib.sha256(f'{last_proof}{proof}'.encode()).hexdigest()[:4] == "0000"


def proof_of_work(last_proof):
    proof = 0
    while not valid_proof(last_proof, proof):
        proof += 1
    return proof


def valid_chain(chain, prints):
    last_block = chain[0]
    current_index = 1
    while current_index < len(chain):
        block = chain[current_index]
        if prints:
            print(f'{last_block}')
            print(f'{block}')
            print("\n-----------\n")
        if block['previous_hash'] != hash_block(last_block):
            return False
        if not valid_proof(last_block['proof'], block['proof']):
            return False
        last_block = block
        current_index += 1
    return True


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    chain = [{'index': 1, 'timestamp': time.time(), 'transactions': [], 'proof': 100, 'previous_hash': 1}]
    proofs = {}  # the proof depends only on the last one: compute each once
    for i in range(1, n):
        last = chain[-1]
        p = proofs.get(last['proof'])
        if p is None:
            p = proofs[last['proof']] = proof_of_work(last['proof'])
        chain.append({'index': i + 1, 'timestamp': time.time(),
                      'transactions': [{'sender': '0', 'recipient': '8527147fe1f5426f9dd545de4b27ee00', 'amount': 1}],
                      'proof': p, 'previous_hash': hash_block(last)})
    body = json.dumps({'chain': chain, 'length': len(chain)})
    for prints in (True, False):
        best = None
        for _ in range(3):
            start = time.perf_counter()
            length = json.loads(body)['length']
            got = json.loads(body)['chain']
            ok = length == n and valid_chain(got, prints)
            d = time.perf_counter() - start
            assert ok
            best = d if best is None else min(best, d)
        with contextlib.redirect_stdout(sys.stderr):
            what = "with its prints" if prints else "without prints"
            print(f"tutorial resolve, {what}: {n} blocks in {best:.3f} s = {n / best:,.0f} blocks/s")


if __name__ == '__main__':
    main()
