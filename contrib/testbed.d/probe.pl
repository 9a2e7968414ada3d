#!/usr/bin/perl
# Tunnel probe for contrib/testbed: one TCP round trip between two inner addresses.
#
#   probe.pl listen ADDR PORT DEVICE    accept one connection, only on DEVICE, echo one line
#   probe.pl connect SRC DST PORT TOKEN connect from SRC, send TOKEN, expect it back
#
# The listener is bound to the TUN device (SO_BINDTODEVICE, as the hub's gate does with
# kernel-libipsec), so a successful round trip proves the bytes came through the tunnel
# and not in clear over the DMZ. perl-base is Essential in Debian, so this needs nothing
# beyond what every machine has (iputils-ping is not installed everywhere).
use strict;
use warnings;
use Socket;

my $SO_BINDTODEVICE = 25;	# <asm-generic/socket.h>; not exported by every Socket.pm
my $mode = shift // '';

if ($mode eq 'listen') {
	my ($addr, $port, $dev) = @ARGV;
	socket(my $s, AF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
	setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1) or die "SO_REUSEADDR: $!\n";
	setsockopt($s, SOL_SOCKET, $SO_BINDTODEVICE, $dev) or die "SO_BINDTODEVICE $dev: $!\n";
	bind($s, pack_sockaddr_in($port, inet_aton($addr))) or die "bind $addr:$port: $!\n";
	listen($s, 1) or die "listen: $!\n";
	$| = 1;
	print "listening\n";
	accept(my $c, $s) or die "accept: $!\n";
	my $line = <$c> // '';
	syswrite($c, $line);
	close($c);
	exit 0;
} elsif ($mode eq 'connect') {
	my ($src, $dst, $port, $token) = @ARGV;
	socket(my $s, AF_INET, SOCK_STREAM, 0) or die "socket: $!\n";
	bind($s, pack_sockaddr_in(0, inet_aton($src))) or die "bind $src: $!\n";
	connect($s, pack_sockaddr_in($port, inet_aton($dst))) or die "connect $dst:$port: $!\n";
	syswrite($s, "$token\n") or die "write: $!\n";
	my $reply = <$s> // '';
	chomp $reply;
	die "unexpected reply '$reply'\n" unless $reply eq $token;
	exit 0;
}
die "usage: probe.pl listen ADDR PORT DEVICE | connect SRC DST PORT TOKEN\n";
