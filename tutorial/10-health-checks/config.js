JSON.decode(pipy.load('config.json'))
