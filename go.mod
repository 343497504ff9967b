module nergateway

go 1.26.0
