module github.com/fanin-dev/fanin

go 1.26
