"""Every network and dump access to Wikidata and Wikimedia lives in this package."""
