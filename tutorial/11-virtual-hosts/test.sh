# Checked by the tutorial test: its output must equal test.out.
curl -s -H 'Host: api1.example' http://localhost:8000/users
curl -s -H 'Host: api2.example' http://localhost:8000/orders
curl -s -H 'Host: API2.example:8000' -X DELETE http://localhost:8000/orders/1
curl -s -w '%{http_code}\n' -H 'Host: nobody.example' http://localhost:8000/
