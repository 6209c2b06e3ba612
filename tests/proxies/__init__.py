"""Proxies for the kit's proxy certification (``certify-proxy``): a faithful one, and broken
variants each breaking declared requirements (tests/test_proxies.py proves both)."""
