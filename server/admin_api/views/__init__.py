"""The staff API's views: thin, each one validated input → scope check → one service call → output."""
