# install.cmake: what `cmake --install` and the Debian package put where,
# beyond the programs (their rules are next to the targets): the manual
# pages, the example configuration and the systemd unit.  Included once from
# the top CMakeLists.txt; it includes cmake/package.cmake last.

# Manual pages, compressed at build time (gzip -n: no name or time stamp, so
# the package is reproducible).
set(BEEPGATE_MANPAGES
    docs/man/beeptunnel.1
    docs/man/idxp-peer.1
    docs/man/beepgated.conf.5
    docs/man/beepgated.8
    docs/man/beepgate-passwd.8)
set(_bg_man_out)
foreach(page ${BEEPGATE_MANPAGES})
  get_filename_component(_bg_name ${page} NAME)
  string(REGEX REPLACE "^.*\\.([0-9])$" "\\1" _bg_sect ${_bg_name})
  set(_bg_gz ${CMAKE_CURRENT_BINARY_DIR}/man/${_bg_name}.gz)
  add_custom_command(OUTPUT ${_bg_gz}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/man
    COMMAND gzip -9nc ${CMAKE_CURRENT_SOURCE_DIR}/${page} > ${_bg_gz}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${page}
    COMMENT "Compressing ${_bg_name}"
    VERBATIM)
  list(APPEND _bg_man_out ${_bg_gz})
  install(FILES ${_bg_gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${_bg_sect})
endforeach()
add_custom_target(manpages ALL DEPENDS ${_bg_man_out})

# The configuration and the unit live outside the prefix when the prefix is
# /usr (the Debian package, `-DCMAKE_INSTALL_PREFIX=/usr`): /etc/beepgate and
# /lib/systemd/system.  CPack installs with its own prefix, so the choice is
# made at install time, not from the prefix the build was configured with.
# (file(INSTALL) adds DESTDIR to an absolute destination itself.)
install(CODE [[
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr" OR CMAKE_INSTALL_PREFIX STREQUAL "/")
    set(_bg_etc "/etc/beepgate")
    set(_bg_unit "/lib/systemd/system")
  else()
    set(_bg_etc "${CMAKE_INSTALL_PREFIX}/etc/beepgate")
    set(_bg_unit "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
  endif()
]])
install(CODE "set(_bg_src \"${CMAKE_CURRENT_SOURCE_DIR}\")")
install(CODE [[
  file(INSTALL "${_bg_src}/etc/beepgated.conf" DESTINATION "${_bg_etc}"
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  file(INSTALL "${_bg_src}/etc/beepgated.service" DESTINATION "${_bg_unit}"
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
]])

include(${CMAKE_CURRENT_LIST_DIR}/package.cmake)
