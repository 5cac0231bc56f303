#!/usr/bin/env python3
"""The tutorial's /nodes/resolve end to end, over HTTP, timed on this machine.

bench/tutorial_resolve.py times the tutorial's valid_chain and its JSON
parsing in one process. This runs the tutorial's Flask app itself ("Learn
Blockchains by Building One": Blockchain, /chain, /nodes/register,
/nodes/resolve, with requests for the neighbour's /chain) as two servers on
loopback: A holds a chain of N blocks as the tutorial's new_block and
proof_of_work build it (one transaction each), B only its genesis; B is
told of A and GET B/nodes/resolve is timed until B holds A's chain. Run:

    python3 bench/tutorial_flask.py 10000 >/dev/null

The tutorial's three debug prints per block go to stdout (hence
>/dev/null). The best of three resolves goes to stderr. Needs Flask and
requests (both pip packages); nothing is persisted.
"""
import contextlib
import hashlib
import json
import sys
import threading
import time
from urllib.parse import urlparse

import requests
from flask import Flask, jsonify
from werkzeug.serving import make_server


class Blockchain:
    # The tutorial's class, as published (the proof depends on the last
    # proof only), minus what resolve does not use.
    def __init__(self):
        self.current_transactions = []
        self.chain = []
        self.nodes = set()
        self.new_block(previous_hash=1, proof=100)

    def register_node(self, address):
        parsed_url = urlparse(address)
        self.nodes.add(parsed_url.netloc)

    def valid_chain(self, chain):
        last_block = chain[0]
        current_index = 1
        while current_index < len(chain):
            block = chain[current_index]
            print(f'{last_block}')
            print(f'{block}')
            print("\n-----------\n")
            if block['previous_hash'] != self.hash(last_block):
                return False
            if not self.valid_proof(last_block['proof'], block['proof']):
                return False
            last_block = block
            current_index += 1
        return True

    def resolve_conflicts(self):
        neighbours = self.nodes
        new_chain = None
        max_length = len(self.chain)
        for node in neighbours:
            response = requests.get(f'http://{node}/chain')
            if response.status_code == 200:
                length = response.json()['length']
                chain = response.json()['chain']
                if length > max_length and self.valid_chain(chain):
                    max_length = length
                    new_chain = chain
        if new_chain:
            self.chain = new_chain
            return True
        return False

    def new_block(self, proof, previous_hash=None):
        block = {
            'index': len(self.chain) + 1,
            'timestamp': time.time(),
            'transactions': self.current_transactions,
            'proof': proof,
            'previous_hash': previous_hash or self.hash(self.chain[-1]),
        }
        self.current_transactions = []
        self.chain.append(block)
        return block

    def new_transaction(self, sender, recipient, amount):
        self.current_transactions.append({'sender': sender, 'recipient': recipient, 'amount': amount})
        return self.chain[-1]['index'] + 1

    @staticmethod
    def hash(block):
        block_string = json.dumps(block, sort_keys=True).encode()
        return hashlib.sha256(block_string).hexdigest()

    def proof_of_work(self, last_proof):
        proof = 0
        while self.valid_proof(last_proof, proof) is False:
            proof += 1
        return proof

    @staticmethod
    def valid_proof(last_proof, proof):
        guess = f'{last_proof}{proof}'.encode()
        return hashlib.sha256(guess).hexdigest()[:4] == "0000"


def app_for(bc):
    app = Flask(__name__)

    @app.route('/chain', methods=['GET'])
    def full_chain():
        return jsonify({'chain': bc.chain, 'length': len(bc.chain)}), 200

    @app.route('/nodes/resolve', methods=['GET'])
    def consensus():
        replaced = bc.resolve_conflicts()
        if replaced:
            return jsonify({'message': 'Our chain was replaced', 'new_chain': bc.chain}), 200
        return jsonify({'message': 'Our chain is authoritative', 'chain': bc.chain}), 200

    return app


def serve(app):
    srv = make_server('127.0.0.1', 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f'http://127.0.0.1:{srv.server_port}'


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    a = Blockchain()
    proofs = {}  # mining as the tutorial's /mine does; each proof found once
    for _ in range(1, n):
        last = a.chain[-1]
        p = proofs.get(last['proof'])
        if p is None:
            p = proofs[last['proof']] = a.proof_of_work(last['proof'])
        a.new_transaction(sender="0", recipient='8527147fe1f5426f9dd545de4b27ee00', amount=1)
        a.new_block(p)
    url_a = serve(app_for(a))
    b = Blockchain()
    url_b = serve(app_for(b))
    b.register_node(url_a)
    best = None
    for _ in range(3):
        b.chain = b.chain[:1]
        start = time.perf_counter()
        r = requests.get(f'{url_b}/nodes/resolve')
        d = time.perf_counter() - start
        assert r.status_code == 200 and len(b.chain) == n, (r.status_code, len(b.chain))
        best = d if best is None else min(best, d)
    with contextlib.redirect_stdout(sys.stderr):
        print(f"tutorial /nodes/resolve over HTTP (Flask): {n} blocks in {best:.3f} s = {n / best:,.0f} blocks/s")


if __name__ == '__main__':
    main()
