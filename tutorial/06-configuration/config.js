// The configuration, read once per worker: JSON.decode parses a file's Data.
JSON.decode(pipy.load('config.json'))
