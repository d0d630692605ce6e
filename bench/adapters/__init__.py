"""Exchange commands for `bench --exchange`: join a leg to another conference server given our
SDP offer on stdin, print that server's SDP answer on stdout."""
