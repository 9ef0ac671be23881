// The end of the chain: nobody took the request.
export default pipeline($=>$
  .replaceMessage(new Message({ status: 404 }, 'No route\n'))
)
