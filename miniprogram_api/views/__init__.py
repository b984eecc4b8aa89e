"""The owner API's views: thin, each one validated input → one service call → output."""
