"""Parity P2P's Iris session as a Flower app (ServerApp with FedAvg, ClientApp), for bench/flower_compare.py."""
