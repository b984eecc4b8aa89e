"""Owners of the mini-program: their sessions, their house bindings, and what
they may read of their bills.  Services here take ids and values and never
touch Flask; ``miniprogram_api`` is the thin web layer over them."""
