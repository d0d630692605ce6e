"""Which 20-digit SIP users are GB/T 28181 devices and which are phones with long numbers.

No I/O here. A GB/T 28181 id (GB/T 28181-2016 annex D) is 20 digits: the 10-digit domain
(中心编码: 8 digits of administrative region and 2 of industry), a 3-digit type code (类型编码,
digits 11-13), then 7 digits of serial (网络标识 + 序号). A SIP phone numbered with 20 digits
must keep registering and texting as a phone, so a 20-digit user is taken for a device only
when:

- it is listed in `[[gb28181.devices]]`, or, unless it is a phone of `[[sip.users]]` (the
  configuration says so: such a number stays a phone whatever it looks like),
- the device registry already knows it (it registered before, this run or an earlier one), or
- its type code is one of a device or a platform AND it names our domain: the From URI's
  host is our 10-digit domain, or the id's own first 10 digits are.

Type codes of devices: 111-130 front-end main devices (111 DVR, 112 video server, 113 encoder,
114 decoder, 115/116 video/audio matrix, 117 alarm controller, 118 NVR, 119-130 reserved) and
131-199 front-end peripherals (131 camera, 132 IP camera, 133 display, 134/135 alarm in/out,
136/137 voice in/out, 138 mobile transmission device, 139 other peripherals). Platform types:
200-299 (200 the SIP signalling server of a platform, 201-299 its web, media, proxy, security,
alarm, database, GIS, management servers, gateways...): a lower platform registers as one
device. 300-399 (centre users) and 400-499 (terminal users) are people, not devices: they stay
on the SIP side like any phone.
"""

from __future__ import annotations

from ingest.gbsettings import is_gb_id

DEVICE_TYPES = range(111, 200)
PLATFORM_TYPES = range(200, 300)


def type_code(gb_id: str) -> int | None:
    """The id's type code (digits 11-13), None for anything but a 20-digit id."""
    return int(gb_id[10:13]) if is_gb_id(gb_id) else None


def is_device_type(gb_id: str) -> bool:
    """Whether the id's type code is a device's or a platform's."""
    code = type_code(gb_id)
    return code is not None and (code in DEVICE_TYPES or code in PLATFORM_TYPES)


def is_device_user(
    user: str, host: str, *, domain: str, listed: bool, known: bool, phone: bool = False
) -> bool:
    """Whether SIP user `user` of From host `host` is a GB/T 28181 device of `domain` (see
    the module docstring); `listed` and `known` say whether the configuration lists it and
    whether the registry holds it, `phone` whether it is a configured SIP user."""
    if not is_gb_id(user):
        return False
    if listed:
        return True
    if phone:
        return False
    if known:
        return True
    return is_device_type(user) and domain in (host, user[:10])
