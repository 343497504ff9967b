module nergateway

go 1.26.0

require github.com/sony/gobreaker/v2 v2.4.0 // indirect
