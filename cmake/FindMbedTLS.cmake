# FindMbedTLS.cmake - locates mbedTLS (2.28 or 3.x).
#
# Debian 12's libmbedtls-dev (2.28) ships no CMake package, so this module
# first tries a config package (mbedTLS 3.x installs one), then falls back to
# find_path/find_library and reads the version from mbedtls/version.h
# (MBEDTLS_VERSION_STRING) - or build_info.h on 3.x.
#
# Result: MbedTLS_FOUND, MbedTLS_VERSION, MbedTLS_INCLUDE_DIR and the imported
# targets MbedTLS::mbedtls, MbedTLS::mbedx509, MbedTLS::mbedcrypto.

# 3.x's package declares SameMajorVersion compatibility: a nested call
# without a version inherits the caller's "2.28", which it rejects, so ask
# for 3.x explicitly (4.x moved crypto to TF-PSA and is not supported).
find_package(MbedTLS 3...<4 CONFIG QUIET NO_MODULE)
if(MbedTLS_FOUND AND TARGET MbedTLS::mbedtls)
  include(FindPackageHandleStandardArgs)
  find_package_handle_standard_args(MbedTLS CONFIG_MODE)
  return()
endif()

find_path(MbedTLS_INCLUDE_DIR mbedtls/ssl.h)
find_library(MbedTLS_LIBRARY mbedtls)
find_library(MbedTLS_X509_LIBRARY mbedx509)
find_library(MbedTLS_CRYPTO_LIBRARY mbedcrypto)

if(MbedTLS_INCLUDE_DIR)
  foreach(_hdr build_info.h version.h)
    if(EXISTS "${MbedTLS_INCLUDE_DIR}/mbedtls/${_hdr}")
      file(STRINGS "${MbedTLS_INCLUDE_DIR}/mbedtls/${_hdr}" _mbed_ver_line
           REGEX "^#define[ \t]+MBEDTLS_VERSION_STRING[ \t]+\"[0-9.]+\"")
      if(_mbed_ver_line)
        string(REGEX REPLACE ".*\"([0-9.]+)\".*" "\\1" MbedTLS_VERSION "${_mbed_ver_line}")
        break()
      endif()
    endif()
  endforeach()
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(MbedTLS
  REQUIRED_VARS MbedTLS_LIBRARY MbedTLS_X509_LIBRARY MbedTLS_CRYPTO_LIBRARY MbedTLS_INCLUDE_DIR
  VERSION_VAR MbedTLS_VERSION)

if(MbedTLS_FOUND AND NOT TARGET MbedTLS::mbedcrypto)
  add_library(MbedTLS::mbedcrypto UNKNOWN IMPORTED)
  set_target_properties(MbedTLS::mbedcrypto PROPERTIES
    IMPORTED_LOCATION "${MbedTLS_CRYPTO_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${MbedTLS_INCLUDE_DIR}")
  add_library(MbedTLS::mbedx509 UNKNOWN IMPORTED)
  set_target_properties(MbedTLS::mbedx509 PROPERTIES
    IMPORTED_LOCATION "${MbedTLS_X509_LIBRARY}"
    INTERFACE_LINK_LIBRARIES MbedTLS::mbedcrypto)
  add_library(MbedTLS::mbedtls UNKNOWN IMPORTED)
  set_target_properties(MbedTLS::mbedtls PROPERTIES
    IMPORTED_LOCATION "${MbedTLS_LIBRARY}"
    INTERFACE_LINK_LIBRARIES MbedTLS::mbedx509)
endif()
mark_as_advanced(MbedTLS_INCLUDE_DIR MbedTLS_LIBRARY MbedTLS_X509_LIBRARY MbedTLS_CRYPTO_LIBRARY)
