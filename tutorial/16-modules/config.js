// The gateway's settings, read once: every module that imports this sees the
// same object.
export default JSON.decode(pipy.load('config.json'))
