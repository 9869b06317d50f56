//go:build linux

package datapath

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Crafted packets for the tests, built byte by byte with valid checksums,
// so that the namespace tests can send them to a real stack as well.

const (
	protocolICMP   = 1
	protocolTCP    = 6
	protocolUDP    = 17
	protocolICMPv6 = 58

	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagACK = 0x10
)

var (
	testUplinkMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	testClientMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}
)

// ethernet frames an IP packet from testClientMAC to testUplinkMAC.
func ethernet(ip []byte) []byte {
	return ethernetTo(testUplinkMAC, testClientMAC, ip)
}

func ethernetTo(destination, source net.HardwareAddr, ip []byte) []byte {
	etherType := uint16(0x0800)
	if ip[0]>>4 == 6 {
		etherType = 0x86DD
	}
	frame := append(append([]byte{}, destination...), source...)
	frame = binary.BigEndian.AppendUint16(frame, etherType)
	return append(frame, ip...)
}

// tcpPacket is an IP packet carrying a TCP segment with the given flags
// and no payload.
func tcpPacket(source, destination netip.AddrPort, flags uint8) []byte {
	segment := binary.BigEndian.AppendUint16(nil, source.Port())
	segment = binary.BigEndian.AppendUint16(segment, destination.Port())
	segment = binary.BigEndian.AppendUint32(segment, 1000) // sequence number
	segment = binary.BigEndian.AppendUint32(segment, 2000) // acknowledgment number
	segment = append(segment, 5<<4, flags)
	segment = binary.BigEndian.AppendUint16(segment, 65535) // window
	segment = append(segment, 0, 0, 0, 0)                   // checksum, urgent pointer
	return ipPacket(source.Addr(), destination.Addr(), protocolTCP, segment, 16)
}

func udpPacket(source, destination netip.AddrPort, payload []byte) []byte {
	datagram := binary.BigEndian.AppendUint16(nil, source.Port())
	datagram = binary.BigEndian.AppendUint16(datagram, destination.Port())
	datagram = binary.BigEndian.AppendUint16(datagram, uint16(8+len(payload)))
	datagram = append(datagram, 0, 0)
	datagram = append(datagram, payload...)
	return ipPacket(source.Addr(), destination.Addr(), protocolUDP, datagram, 6)
}

// tooBigPacket is the ICMP error a router sends to the source of quoted
// when it is too big for the next link: "fragmentation needed" for IPv4,
// "packet too big" for IPv6.
func tooBigPacket(router netip.Addr, quoted []byte) []byte {
	source := netip.AddrFrom4([4]byte(quoted[12:16]))
	message := []byte{3, 4, 0, 0, 0, 0, 0x05, 0xDC} // type, code, checksum, unused, next-hop MTU 1500
	protocol := uint8(protocolICMP)
	if quoted[0]>>4 == 6 {
		source = netip.AddrFrom16([16]byte(quoted[8:24]))
		message = []byte{2, 0, 0, 0, 0, 0, 0x05, 0xDC}
		protocol = protocolICMPv6
	}
	return ipPacket(router, source, protocol, append(message, quoted...), 2)
}

// ipPacket puts payload under an IPv4 or IPv6 header and fills in the
// checksum at checksumOffset of the payload.
func ipPacket(source, destination netip.Addr, protocol uint8, payload []byte, checksumOffset int) []byte {
	payload = append([]byte{}, payload...)
	var header, pseudo []byte
	if source.Is4() {
		header = []byte{0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, protocol, 0, 0} // DF set
		binary.BigEndian.PutUint16(header[2:], uint16(20+len(payload)))
		header = append(header, source.AsSlice()...)
		header = append(header, destination.AsSlice()...)
		binary.BigEndian.PutUint16(header[10:], checksum(header))
		pseudo = append(append(source.AsSlice(), destination.AsSlice()...), 0, protocol)
		pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(len(payload)))
	} else {
		header = []byte{0x60, 0, 0, 0, 0, 0, protocol, 64}
		binary.BigEndian.PutUint16(header[4:], uint16(len(payload)))
		header = append(header, source.AsSlice()...)
		header = append(header, destination.AsSlice()...)
		pseudo = append(source.AsSlice(), destination.AsSlice()...)
		pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(len(payload)))
		pseudo = append(pseudo, 0, 0, 0, protocol)
	}
	if protocol == protocolICMP {
		pseudo = nil // ICMPv4's checksum covers the message only
	}
	binary.BigEndian.PutUint16(payload[checksumOffset:], checksum(append(pseudo, payload...)))
	return append(header, payload...)
}

// checksum is the Internet checksum (RFC 1071).
func checksum(data []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(data); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(data[i:]))
	}
	if len(data)%2 == 1 {
		sum += uint32(data[len(data)-1]) << 8
	}
	for sum > 0xFFFF {
		sum = sum>>16 + sum&0xFFFF
	}
	return ^uint16(sum)
}
