# package.cmake: the Debian package (`cpack -G DEB` in a build directory).
#
#   /usr/sbin/beepgated, /usr/sbin/beepgate-passwd, /usr/bin/beeptunnel
#   /usr/share/man/man{1,5,8}/*.gz
#   /etc/beepgate/beepgated.conf          (a conffile: local edits survive upgrades)
#   /lib/systemd/system/beepgated.service (not enabled: edit the configuration first)
#   postinst: the system user "beepgate" and /var/lib/beepgate (0750, its own)
#   postrm purge: /var/lib/beepgate removed (the user database goes with it)
#
# Configure the build with -DCMAKE_BUILD_TYPE=RelWithDebInfo (and without
# BEEPGATE_SANITIZE) for a package meant to be installed.  The benchmark load
# generator and the test programs have no install rules and are never packaged.

set(CPACK_PACKAGE_NAME "beepgate")
set(CPACK_PACKAGE_VENDOR "beepgate")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "beepgate maintainers <beepgate@example.net>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "BEEP TUNNEL and TCPMUX relay for network boundaries")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_PACKAGE_NAME "beepgate")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"beepgated terminates BEEP TUNNEL requests (RFC 3620) with SASL
authentication, authorizes each against a deny-by-default policy, chains
to the next relay or peer, and forwards the end-to-end TLS bytes of IDXP
(RFC 4767) peers without reading them.  A TCPMUX (RFC 1078) front door
exposes named services.
.
The package also holds beeptunnel, a client that opens a tunnel and pipes
it to standard input and output or a local port, and beepgate-passwd,
which manages the SASL users.")
# Shared libraries are found by dpkg-shlibdeps (package dpkg-dev); the rest
# is what the maintainer scripts, the SCRAM mechanisms and beepgate-passwd
# (which writes with saslpasswd2) need at run time.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, libsasl2-modules, libsasl2-modules-db, sasl2-bin")

# Maintainer scripts and the conffile list (dpkg-deb needs them executable).
set(_bg_deb ${CMAKE_CURRENT_BINARY_DIR}/debian)
file(MAKE_DIRECTORY ${_bg_deb})
foreach(f postinst postrm)
  file(COPY ${CMAKE_CURRENT_LIST_DIR}/debian/${f} DESTINATION ${_bg_deb}
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                        WORLD_READ WORLD_EXECUTE)
endforeach()
file(COPY ${CMAKE_CURRENT_LIST_DIR}/debian/conffiles DESTINATION ${_bg_deb}
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${_bg_deb}/postinst ${_bg_deb}/postrm ${_bg_deb}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

set(CPACK_GENERATOR "DEB")
set(CPACK_SOURCE_GENERATOR "TGZ")
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/")
include(CPack)
