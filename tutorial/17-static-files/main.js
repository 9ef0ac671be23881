// Static files, the job of nginx's `root`: everything under www/ of the
// codebase, with an index page, content types, ranges and revalidation.
var site = new http.Directory('/www', { index: ['index.html', 'index.md'] })

var notFound = new Message({ status: 404, headers: { 'content-type': 'text/plain' } }, 'Not found\n')

pipy.listen(8080, $=>$
  .serveHTTP(msg => site.serve(msg) || notFound)
)
