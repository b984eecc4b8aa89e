"""Request and response schemas of the staff API: money is integer fen in ``*_fen``
fields, unit prices and quantities are exact decimal strings."""
