#!/usr/bin/env bash
# Builds mediasoup-worker from the npm package's own sources against Debian libraries (no GitHub, wrapdb or PyPI).
# Adopted from the recipe proven on Debian 12 (report: docs/operations.md, "Building the mediasoup worker").
#
# build-mediasoup-worker.sh -- build mediasoup-worker OFFLINE (no GitHub / wrapdb / PyPI)
# from the worker sources shipped inside the mediasoup npm package, using
# Debian 12 (bookworm) system libraries instead of the meson subprojects.
#
# Usage:
#   build-worker.sh <mediasoup-package-dir> [<output-path>]
#
#   <mediasoup-package-dir>  an installed/unpacked mediasoup package (the dir
#                            containing package.json and worker/), e.g.
#                            node_modules/mediasoup (installed with
#                            `npm install --ignore-scripts mediasoup@3.27.1`).
#   <output-path>            where to put the binary. Default:
#                            <pkg>/worker/out/Release/mediasoup-worker, which is
#                            where mediasoup looks when MEDIASOUP_WORKER_BIN is
#                            not set.
#
# Environment (all optional):
#   MS_WORK_DIR     work directory (default ${XDG_CACHE_HOME:-$HOME/.cache}/mediasoup-worker-build)
#   MESON_VERSION   meson version installed from the (local) pip index into a
#                   venv (default 1.12.1; mediasoup wants >= 1.1.0)
#   JOBS            parallel compile jobs (default: nproc)
#   MS_CLEAN=1      wipe this package's source copy and build dir first
#   MS_STRIP=1      strip the installed binary
#   MS_SKIP_APT=1   do not call apt-get (packages must already be installed)
#   MS_SKIP_SMOKE=1 skip the final `node` smoke test (createWorker/createRouter)
#   MESON_ARGS      extra `meson setup` arguments (a change re-creates the build dir)
#
# Network: only apt-get (Debian bookworm repos) and pip (preconfigured index).
# Tested with mediasoup 3.27.1 on Debian 12 x86-64 (gcc 12.2).
#
# What is replaced (see the REPORT for risks):
#   libuv 1.51.0          -> Debian libuv1-dev 1.44.2 (static libuv_a.a)
#   openssl 3.0.8         -> Debian libssl-dev 3.0.x (static libssl.a/libcrypto.a)
#   libsrtp3 (versatica)  -> Debian libsrtp2-dev 2.5.0 (static, NSS crypto backend)
#                            + C++ shim header providing the libsrtp3 API subset
#   flatbuffers 24.3.25   -> Debian flatbuffers-compiler/libflatbuffers-dev 2.0.8
#   unordered_dense 4.8.1 -> shim header mapping to std::unordered_map/set
#   abseil-cpp 20240722   -> Debian libabsl-dev 20220623 (static)
#   + 1 source patch in src/RTC/DtlsTransport.cpp (KTLS-enabled system OpenSSL)
set -euo pipefail

log() { printf '\033[1;34m[build-worker]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[build-worker] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

[ $# -ge 1 ] && [ $# -le 2 ] || { sed -n '2,20p' "$0" >&2; exit 2; }

PKG_DIR=$(cd "$1" 2>/dev/null && pwd) || die "package dir '$1' not found"
[ -f "$PKG_DIR/package.json" ] && [ -f "$PKG_DIR/worker/meson.build" ] \
  || die "'$PKG_DIR' does not look like a mediasoup package (no package.json / worker/meson.build)"
OUT=${2:-$PKG_DIR/worker/out/Release/mediasoup-worker}
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
WORK_BASE=${MS_WORK_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mediasoup-worker-build}
MESON_VERSION=${MESON_VERSION:-1.12.1}
JOBS=${JOBS:-$(nproc)}
T_START=$(date +%s)

# ----------------------------------------------------------------------------
# 1. Debian packages
# ----------------------------------------------------------------------------
APT_PKGS=(build-essential pkg-config ninja-build python3 python3-venv
  libuv1-dev libssl-dev libsrtp2-dev libnss3-dev libnspr4-dev
  libflatbuffers-dev flatbuffers-compiler libabsl-dev)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "${MS_SKIP_APT:-0}" = 1 ] && die "missing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages already installed"
fi

PKG_NAME=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' "$PKG_DIR/package.json")
PKG_VERSION=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$PKG_DIR/package.json")
[ "$PKG_NAME" = mediasoup ] || die "package name is '$PKG_NAME', expected 'mediasoup'"
# Key the work dir by version + content of the shipped worker tree.
TREE_SUM=$(cd "$PKG_DIR/worker" && find . -path ./out -prune -o -type f -print0 | LC_ALL=C sort -z \
  | xargs -0 sha256sum | sha256sum | cut -c1-12)
WORK="$WORK_BASE/mediasoup-$PKG_VERSION-$TREE_SUM"
SRC="$WORK/worker"
BUILD="$WORK/build"
log "mediasoup $PKG_VERSION, work dir $WORK"
if [ "${MS_CLEAN:-0}" = 1 ]; then log "MS_CLEAN=1: removing $WORK"; rm -rf "$WORK"; fi
mkdir -p "$WORK"

# ----------------------------------------------------------------------------
# 2. meson (pip, in a venv) + ninja (Debian)
# ----------------------------------------------------------------------------
VENV="$WORK_BASE/venv-meson-$MESON_VERSION"
if ! "$VENV/bin/meson" --version 2>/dev/null | grep -qx "$MESON_VERSION"; then
  log "installing meson==$MESON_VERSION into $VENV (pip)"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "meson==$MESON_VERSION"
fi
MESON="$VENV/bin/meson"
command -v ninja >/dev/null || die "ninja not found"
log "meson $("$MESON" --version), ninja $(ninja --version), flatc: $(flatc --version)"

# ----------------------------------------------------------------------------
# 3. Private copy of the worker sources (the installed package is not modified)
# ----------------------------------------------------------------------------
if [ ! -f "$WORK/.src-ready" ]; then
  log "copying worker sources to $SRC"
  rm -rf "$SRC" "$BUILD"
  mkdir -p "$SRC"
  (cd "$PKG_DIR/worker" && tar --exclude=./out -cf - .) | (cd "$SRC" && tar -xpf -)
  touch "$WORK/.src-ready"
fi

# Check that mediasoup's meson files read only variables we provide.
KNOWN_VARS="absl_container_dep absl_container_lib absl_strings_dep absl_types_dep catch2_dep flatbuffers_dep flatbuffers_lib libcrypto_lib libsrtp3 libsrtp3_dep libssl_lib libuv libuv_dep openssl_dep wingetopt_dep wingetopt_lib"
for v in $(grep -rhoE "get_variable\('[A-Za-z0-9_]+'\)" "$SRC/meson.build" "$SRC/deps/libwebrtc/meson.build" | sed -E "s/get_variable\('([^']+)'\)/\1/" | sort -u); do
  case " $KNOWN_VARS " in *" $v "*) ;; *) die "worker/meson.build reads unknown subproject variable '$v' (this script targets mediasoup 3.27.x)";; esac
done

# write_file PATH: content from stdin; only touches PATH if content changed
# (keeps mtimes stable so re-runs do not recompile everything).
write_file() {
  local dst=$1 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  mkdir -p "$(dirname "$dst")"
  if [ -f "$dst" ] && cmp -s "$tmp" "$dst"; then rm -f "$tmp"; else mv "$tmp" "$dst"; chmod 644 "$dst"; fi
}

SP="$SRC/subprojects"
# Remove the wraps that would download; catch2/wingetopt (tests / Windows) stay.
rm -f "$SP/libuv.wrap" "$SP/openssl.wrap" "$SP/libsrtp3.wrap" "$SP/flatbuffers.wrap" \
      "$SP/abseil-cpp.wrap"

# ----------------------------------------------------------------------------
# 4. Stub subprojects backed by Debian libraries
# ----------------------------------------------------------------------------
write_file "$SP/libuv/meson.build" <<'EOF'
# Offline stub: libuv from Debian (libuv1-dev), static archive libuv_a.a.
project('libuv', 'c')
libuv_dep = dependency('libuv-static', required: false)
if not libuv_dep.found()
  libuv_dep = dependency('libuv')
endif
# Only used for link_whole of the (not built by default) libmediasoup-worker.
libuv = []
EOF
write_file "$SP/libuv/meson_options.txt" <<'EOF'
option('build_tests', type: 'boolean', value: false)
option('build_benchmarks', type: 'boolean', value: false)
EOF

write_file "$SP/openssl/meson.build" <<'EOF'
# Offline stub: OpenSSL 3.0.x from Debian (libssl-dev), linked statically.
project('openssl', 'c')
libcrypto_dep = dependency('libcrypto', static: true)
libssl_dep = dependency('libssl', static: true)
openssl_dep = dependency('openssl', static: true)
libcrypto_lib = []
libssl_lib = []
EOF

write_file "$SP/flatbuffers/meson.build" <<'EOF'
# Offline stub: flatbuffers 2.0.8 from Debian (libflatbuffers-dev +
# flatbuffers-compiler). The schemas are compiled by /usr/bin/flatc, which
# worker/fbs/FBS/meson.build finds with find_program('flatc').
project('flatbuffers', 'cpp')
flatbuffers_dep = dependency('flatbuffers', static: true)
flatbuffers_lib = []
flatc = find_program('flatc')
EOF

write_file "$SP/abseil-cpp/meson.build" <<'EOF'
# Offline stub: abseil 20220623 from Debian (libabsl-dev), for deps/libwebrtc.
project('abseil-cpp', 'cpp')
absl_strings_dep = dependency('absl_strings', static: true)
absl_types_dep = dependency('absl_optional', static: true)
absl_container_dep = dependency('absl_flat_hash_map', static: true)
absl_container_lib = []
EOF

write_file "$SP/libsrtp3/meson_options.txt" <<'EOF'
option('crypto-library', type: 'string', value: 'openssl')
option('crypto-library-kdf', type: 'string', value: 'disabled')
option('tests', type: 'string', value: 'disabled')
EOF
write_file "$SP/libsrtp3/meson.build" <<'EOF'
# Offline stub: libsrtp 2.5.0 from Debian (libsrtp2-dev, NSS crypto backend)
# plus include/srtp.h, a shim exposing the libsrtp3 API subset mediasoup uses.
project('libsrtp3', 'c')
libsrtp3_dep = declare_dependency(
  include_directories: include_directories('include'),
  dependencies: [dependency('libsrtp2', static: true)],
)
libsrtp3 = []
EOF

write_file "$SP/libsrtp3/include/srtp.h" <<'EOF'
/*
 * srtp.h -- libsrtp3 (versatica fork, v3 API) compatibility shim on top of
 * Debian's libsrtp2 (2.5.x). Provides exactly the subset of the libsrtp 3 API
 * that mediasoup-worker uses. NOT part of upstream mediasoup or libsrtp.
 */
#ifndef MS_LIBSRTP3_COMPAT_SHIM_H
#define MS_LIBSRTP3_COMPAT_SHIM_H

#ifndef __cplusplus
#error "this libsrtp3 compatibility shim is C++ only"
#endif

/* libsrtp2 names its (public) policy struct srtp_policy_t, while libsrtp3
 * uses that name for an opaque handle. Rename the v2 one while including. */
#define srtp_policy_t srtp2_policy_t
#include <srtp2/srtp.h>
#undef srtp_policy_t

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

/* Error codes that only exist in libsrtp3 (same numeric values as in v3). */
inline constexpr srtp_err_status_t srtp_err_status_buffer_small = static_cast<srtp_err_status_t>(28);
inline constexpr srtp_err_status_t srtp_err_status_cryptex_err  = static_cast<srtp_err_status_t>(29);

/* Opaque libsrtp3-style policy handle backed by a libsrtp2 policy. */
struct ms_srtp3_policy
{
	srtp2_policy_t p;
	unsigned char key[SRTP_MAX_KEY_LEN];
	bool profileSet;
};
typedef ms_srtp3_policy* srtp_policy_t;

inline srtp_err_status_t srtp_policy_create(srtp_policy_t* policy)
{
	if (!policy)
		return srtp_err_status_bad_param;
	auto* pol = new (std::nothrow) ms_srtp3_policy(); /* value-initialized: all zero */
	if (!pol)
		return srtp_err_status_alloc_fail;
	pol->p.window_size = 128; /* libsrtp default */
	*policy            = pol;
	return srtp_err_status_ok;
}

inline void srtp_policy_destroy(srtp_policy_t policy)
{
	if (policy)
	{
		std::memset(policy->key, 0, sizeof(policy->key));
		delete policy;
	}
}

inline srtp_err_status_t srtp_policy_set_ssrc(srtp_policy_t policy, srtp_ssrc_t ssrc)
{
	if (!policy)
		return srtp_err_status_bad_param;
	policy->p.ssrc = ssrc;
	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_profile(srtp_policy_t policy, srtp_profile_t profile)
{
	if (!policy)
		return srtp_err_status_bad_param;
	srtp_err_status_t err = srtp_crypto_policy_set_from_profile_for_rtp(&policy->p.rtp, profile);
	if (err != srtp_err_status_ok)
		return err;
	err = srtp_crypto_policy_set_from_profile_for_rtcp(&policy->p.rtcp, profile);
	if (err != srtp_err_status_ok)
		return err;
	policy->profileSet = true;
	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_add_key(
  srtp_policy_t policy,
  const uint8_t* key,
  size_t key_len,
  const uint8_t* salt,
  size_t salt_len,
  const uint8_t* mki,
  size_t mki_len)
{
	(void)mki;
	if (!policy || !key || (salt_len && !salt))
		return srtp_err_status_bad_param;
	/* Only a single master key without MKI is supported by this shim. */
	if (mki_len != 0 || policy->p.key != nullptr)
		return srtp_err_status_no_such_op;
	if (key_len + salt_len > sizeof(policy->key))
		return srtp_err_status_bad_param;
	if (policy->profileSet && static_cast<size_t>(policy->p.rtp.cipher_key_len) != key_len + salt_len)
		return srtp_err_status_bad_param;
	std::memcpy(policy->key, key, key_len);
	if (salt_len)
		std::memcpy(policy->key + key_len, salt, salt_len);
	policy->p.key = policy->key; /* libsrtp2 wants key||salt concatenated */
	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_window_size(srtp_policy_t policy, size_t window_size)
{
	if (!policy)
		return srtp_err_status_bad_param;
	if (window_size != 0 && (window_size < 64 || window_size >= 0x8000))
		return srtp_err_status_bad_param;
	policy->p.window_size = window_size;
	return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_allow_repeat_tx(srtp_policy_t policy, bool allow)
{
	if (!policy)
		return srtp_err_status_bad_param;
	policy->p.allow_repeat_tx = allow ? 1 : 0;
	return srtp_err_status_ok;
}

/* v3: srtp_create(srtp_t*, const srtp_policy_t) -- C++ overload of the v2 one. */
inline srtp_err_status_t srtp_create(srtp_t* session, const ms_srtp3_policy* policy)
{
	if (!session || !policy || !policy->p.key)
		return srtp_err_status_bad_param;
	return ::srtp_create(session, &policy->p);
}

/* v3 renamed srtp_remove_stream() to srtp_stream_remove() (ssrc in network order). */
inline srtp_err_status_t srtp_stream_remove(srtp_t session, uint32_t ssrc)
{
	return ::srtp_remove_stream(session, ssrc);
}

/* v3 protect/unprotect take separate input/output buffers with size_t lengths.
 * libsrtp2 works in place, so copy to the output buffer first (if different). */
namespace ms_srtp3_detail
{
	inline srtp_err_status_t Protect(
	  srtp_t ctx, const uint8_t* in, size_t inLen, uint8_t* out, size_t* outLen, bool rtcp)
	{
		if (!ctx || !in || !out || !outLen)
			return srtp_err_status_bad_param;
		if (inLen > static_cast<size_t>(INT_MAX) - SRTP_MAX_TRAILER_LEN - 4u)
			return srtp_err_status_bad_param;
		/* libsrtp2 may append up to SRTP_MAX_TRAILER_LEN (+4 for SRTCP) bytes. */
		if (*outLen < inLen + SRTP_MAX_TRAILER_LEN + (rtcp ? 4u : 0u))
			return srtp_err_status_buffer_small;
		if (out != in)
			std::memmove(out, in, inLen);
		int len = static_cast<int>(inLen);
		const srtp_err_status_t err =
		  rtcp ? ::srtp_protect_rtcp(ctx, out, &len) : ::srtp_protect(ctx, out, &len);
		if (err == srtp_err_status_ok)
			*outLen = static_cast<size_t>(len);
		return err;
	}

	inline srtp_err_status_t Unprotect(
	  srtp_t ctx, const uint8_t* in, size_t inLen, uint8_t* out, size_t* outLen, bool rtcp)
	{
		if (!ctx || !in || !out || !outLen)
			return srtp_err_status_bad_param;
		if (inLen > static_cast<size_t>(INT_MAX))
			return srtp_err_status_bad_param;
		if (*outLen < inLen)
			return srtp_err_status_buffer_small;
		if (out != in)
			std::memmove(out, in, inLen);
		int len = static_cast<int>(inLen);
		const srtp_err_status_t err =
		  rtcp ? ::srtp_unprotect_rtcp(ctx, out, &len) : ::srtp_unprotect(ctx, out, &len);
		if (err == srtp_err_status_ok)
			*outLen = static_cast<size_t>(len);
		return err;
	}
} // namespace ms_srtp3_detail

inline srtp_err_status_t srtp_protect(
  srtp_t ctx, const uint8_t* rtp, size_t rtp_len, uint8_t* srtp, size_t* srtp_len, size_t mki_index)
{
	if (mki_index != 0)
		return srtp_err_status_bad_mki;
	return ms_srtp3_detail::Protect(ctx, rtp, rtp_len, srtp, srtp_len, false);
}

inline srtp_err_status_t srtp_unprotect(
  srtp_t ctx, const uint8_t* srtp, size_t srtp_len, uint8_t* rtp, size_t* rtp_len)
{
	return ms_srtp3_detail::Unprotect(ctx, srtp, srtp_len, rtp, rtp_len, false);
}

inline srtp_err_status_t srtp_protect_rtcp(
  srtp_t ctx, const uint8_t* rtcp, size_t rtcp_len, uint8_t* srtcp, size_t* srtcp_len, size_t mki_index)
{
	if (mki_index != 0)
		return srtp_err_status_bad_mki;
	return ms_srtp3_detail::Protect(ctx, rtcp, rtcp_len, srtcp, srtcp_len, true);
}

inline srtp_err_status_t srtp_unprotect_rtcp(
  srtp_t ctx, const uint8_t* srtcp, size_t srtcp_len, uint8_t* rtcp, size_t* rtcp_len)
{
	return ms_srtp3_detail::Unprotect(ctx, srtcp, srtcp_len, rtcp, rtcp_len, true);
}

#endif /* MS_LIBSRTP3_COMPAT_SHIM_H */
EOF

# unordered_dense: worker/meson.build uses dependency('unordered_dense'), which
# falls back to the wrap that [provide]s it; point that wrap at a local dir.
write_file "$SP/unordered-dense.wrap" <<'EOF'
[wrap-file]
directory = unordered-dense-shim

[provide]
unordered_dense = ankerl_unordered_dense_dep
EOF
write_file "$SP/unordered-dense-shim/meson.build" <<'EOF'
# Offline stub: ankerl::unordered_dense replaced by a std:: based shim header.
project('ankerl-unordered-dense', 'cpp', version: '4.8.1-std-shim')
ankerl_unordered_dense_dep = declare_dependency(include_directories: include_directories('include'))
EOF
write_file "$SP/unordered-dense-shim/include/ankerl/unordered_dense.h" <<'EOF'
/*
 * ankerl/unordered_dense.h -- minimal compatibility shim (NOT the real
 * martinus/unordered_dense). Maps ankerl::unordered_dense::{map,set,
 * segmented_map,segmented_set,hash} onto the C++ standard library so that
 * mediasoup-worker builds without the header-only dependency.
 * Differences: iteration order (std:: containers are unordered; the real
 * library iterates in insertion order), performance, value_type of map is
 * std::pair<const Key, T> instead of std::pair<Key, T>.
 */
#ifndef ANKERL_UNORDERED_DENSE_H
#define ANKERL_UNORDERED_DENSE_H

#define ANKERL_UNORDERED_DENSE_VERSION_MAJOR 4
#define ANKERL_UNORDERED_DENSE_VERSION_MINOR 8
#define ANKERL_UNORDERED_DENSE_VERSION_PATCH 1
#define ANKERL_UNORDERED_DENSE_STD_SHIM 1

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace ankerl
{
	namespace unordered_dense
	{
		namespace detail
		{
			// Same 64x64->128 "mum" mixer that the real library (wyhash) uses.
			inline uint64_t mum(uint64_t a, uint64_t b) noexcept
			{
				const __uint128_t r = static_cast<__uint128_t>(a) * static_cast<__uint128_t>(b);
				return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64U);
			}

			inline uint64_t hash_u64(uint64_t x) noexcept
			{
				return mum(x, UINT64_C(0x9E3779B97F4A7C15));
			}
		} // namespace detail

		// Generic: defer to std::hash.
		template<typename T, typename Enable = void>
		struct hash
		{
			uint64_t operator()(const T& obj) const
			{
				return static_cast<uint64_t>(std::hash<T>{}(obj));
			}
		};

		// Integers, enums: well mixed 64 bit hash (std::hash is identity).
		template<typename T>
		struct hash<T, std::enable_if_t<std::is_integral_v<T> || std::is_enum_v<T>>>
		{
			using is_avalanching = void;

			uint64_t operator()(const T& obj) const noexcept
			{
				return detail::hash_u64(static_cast<uint64_t>(obj));
			}
		};

		template<typename T>
		struct hash<T*>
		{
			using is_avalanching = void;

			uint64_t operator()(T* ptr) const noexcept
			{
				return detail::hash_u64(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(ptr)));
			}
		};

		template<typename T>
		struct hash<std::unique_ptr<T>>
		{
			using is_avalanching = void;

			uint64_t operator()(const std::unique_ptr<T>& ptr) const noexcept
			{
				return detail::hash_u64(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(ptr.get())));
			}
		};

		template<typename T>
		struct hash<std::shared_ptr<T>>
		{
			using is_avalanching = void;

			uint64_t operator()(const std::shared_ptr<T>& ptr) const noexcept
			{
				return detail::hash_u64(static_cast<uint64_t>(reinterpret_cast<uintptr_t>(ptr.get())));
			}
		};

		template<
		  class Key,
		  class T,
		  class Hash                 = hash<Key>,
		  class KeyEqual             = std::equal_to<Key>,
		  class AllocatorOrContainer = void,
		  class Bucket               = void,
		  class BucketContainer      = void>
		using map = std::unordered_map<Key, T, Hash, KeyEqual>;

		template<
		  class Key,
		  class T,
		  class Hash                 = hash<Key>,
		  class KeyEqual             = std::equal_to<Key>,
		  class AllocatorOrContainer = void,
		  class Bucket               = void,
		  class BucketContainer      = void>
		using segmented_map = std::unordered_map<Key, T, Hash, KeyEqual>;

		template<
		  class Key,
		  class Hash                 = hash<Key>,
		  class KeyEqual             = std::equal_to<Key>,
		  class AllocatorOrContainer = void,
		  class Bucket               = void,
		  class BucketContainer      = void>
		using set = std::unordered_set<Key, Hash, KeyEqual>;

		template<
		  class Key,
		  class Hash                 = hash<Key>,
		  class KeyEqual             = std::equal_to<Key>,
		  class AllocatorOrContainer = void,
		  class Bucket               = void,
		  class BucketContainer      = void>
		using segmented_set = std::unordered_set<Key, Hash, KeyEqual>;
	} // namespace unordered_dense
} // namespace ankerl

#endif // ANKERL_UNORDERED_DENSE_H
EOF

# ----------------------------------------------------------------------------
# 5. Source patch: DtlsTransport BIO callback vs. KTLS-enabled system OpenSSL
# ----------------------------------------------------------------------------
# mediasoup's BIO callback returns 1 for every BIO_ctrl() on the DTLS write BIO.
# Debian's OpenSSL is built with KTLS, so libssl asks BIO_get_ktls_send(), gets
# 1, believes kernel TLS is on, never allocates its record write buffer and
# SIGSEGVs in do_dtls1_write() on the first DTLS handshake. (The OpenSSL built
# by mediasoup's wrap has no KTLS, where BIO_get_ktls_send() is constant 0.)
python3 - "$SRC/src/RTC/DtlsTransport.cpp" <<'PYEOF'
import sys
path = sys.argv[1]
s = open(path).read()
MARK = "[offline-build patch]"
if MARK in s:
    print("[build-worker] DtlsTransport.cpp already patched", file=sys.stderr)
    sys.exit(0)
old = """  int /*argi*/,
  long /*argl*/,
  int ret,
  size_t* /*processed*/)
{
	MS_TRACE();

	const long resultOfcallback = (operationType == BIO_CB_RETURN) ? static_cast<long>(ret) : 1;
"""
new = """  int argi,
  long /*argl*/,
  int ret,
  size_t* /*processed*/)
{
	MS_TRACE();

	long resultOfcallback = (operationType == BIO_CB_RETURN) ? static_cast<long>(ret) : 1;

	// [offline-build patch] A system OpenSSL built with KTLS support (e.g.
	// Debian's) asks the write BIO BIO_get_ktls_send() when setting up its write
	// buffer. Answering 1 (the value returned above for every control operation)
	// makes libssl believe kernel TLS is active, skip allocating the record write
	// buffer and crash (NULL write in do_dtls1_write()). Pass the real answer of
	// the mem BIO (0) through for the KTLS queries only; everything else keeps
	// the upstream behaviour (that the DTLS MTU handling relies on).
#if defined(BIO_CTRL_GET_KTLS_SEND) && defined(BIO_CTRL_GET_KTLS_RECV)
	if (
	  operationType == (BIO_CB_CTRL | BIO_CB_RETURN) &&
	  (argi == BIO_CTRL_GET_KTLS_SEND || argi == BIO_CTRL_GET_KTLS_RECV))
	{
		resultOfcallback = static_cast<long>(ret);
	}
#else
	(void)argi;
#endif
"""
if s.count(old) != 1:
    sys.exit("[build-worker] ERROR: onSslBioOut() in DtlsTransport.cpp does not match the expected "
             "3.27.x code; cannot apply the KTLS patch (DTLS would crash with Debian's OpenSSL)")
open(path, "w").write(s.replace(old, new))
print("[build-worker] patched DtlsTransport.cpp (KTLS BIO ctrl)", file=sys.stderr)
PYEOF

# ----------------------------------------------------------------------------
# 6. Configure + build (same options as mediasoup's `invoke` release build)
# ----------------------------------------------------------------------------
ARGS_STAMP="$WORK/.meson-args"
if [ ! -f "$BUILD/build.ninja" ] || [ "$(cat "$ARGS_STAMP" 2>/dev/null)" != "${MESON_ARGS:-}" ]; then
  log "meson setup $BUILD ${MESON_ARGS:-}"
  rm -rf "$BUILD" "$ARGS_STAMP"
  # shellcheck disable=SC2086
  (cd "$SRC" && "$MESON" setup --buildtype release -Db_ndebug=true --wrap-mode=nodownload \
     ${MESON_ARGS:-} "$BUILD") >"$WORK/meson-setup.log" 2>&1 \
     || { tail -40 "$WORK/meson-setup.log" >&2; die "meson setup failed (log: $WORK/meson-setup.log)"; }
  printf '%s' "${MESON_ARGS:-}" >"$ARGS_STAMP"
fi
log "ninja -j$JOBS mediasoup-worker (log: $WORK/ninja.log)"
T_BUILD=$(date +%s)
# ninja must find the pip meson for its regeneration step.
# ninja's "[done/total]" lines go to the log; every 5% is echoed as progress (pipefail keeps ninja's status).
# A bash loop rather than awk: mawk reads its input in blocks, which would hold the progress back.
progress() {
  local line pct next=0
  while IFS= read -r line; do
    [[ $line =~ ^\[([0-9]+)/([0-9]+)\] ]] || continue
    pct=$(( 100 * BASH_REMATCH[1] / BASH_REMATCH[2] ))
    if [ "$pct" -ge "$next" ]; then
      log "compiling: $pct% (${BASH_REMATCH[1]}/${BASH_REMATCH[2]} steps, $(( $(date +%s) - T_BUILD ))s)"
      next=$(( pct - pct % 5 + 5 ))
    fi
  done
}
if ! PATH="$VENV/bin:$PATH" ninja -C "$BUILD" -j"$JOBS" mediasoup-worker 2>&1 | tee "$WORK/ninja.log" | progress; then
  grep -E -A15 "FAILED|error:" "$WORK/ninja.log" | head -80 >&2
  die "build failed (log: $WORK/ninja.log)"
fi
log "compile+link took $(( $(date +%s) - T_BUILD ))s"

# ----------------------------------------------------------------------------
# 7. Install
# ----------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
install -m 755 "$BUILD/mediasoup-worker" "$OUT.tmp.$$"
[ "${MS_STRIP:-0}" = 1 ] && strip "$OUT.tmp.$$"
mv -f "$OUT.tmp.$$" "$OUT"
log "installed $OUT ($(stat -c %s "$OUT") bytes)"
log "runtime shared libs: $(ldd "$OUT" | awk '{print $1}' | grep -v -e vdso -e ld-linux | tr '\n' ' ')"

# ----------------------------------------------------------------------------
# 8. Smoke test through the package's own Node API
# ----------------------------------------------------------------------------
if [ "${MS_SKIP_SMOKE:-0}" != 1 ] && command -v node >/dev/null \
   && [ -d "$PKG_DIR/node_modules/flatbuffers" -o -d "$PKG_DIR/../flatbuffers" ]; then
  log "smoke test: createWorker/createRouter/createWebRtcTransport"
  MEDIASOUP_WORKER_BIN="$OUT" node -e '
    const ms = require(process.argv[1]);
    (async () => {
      const w = await ms.createWorker({ logLevel: "warn" });
      const r = await w.createRouter({ mediaCodecs: [{ kind: "audio", mimeType: "audio/opus", clockRate: 48000, channels: 2 }] });
      const t = await r.createWebRtcTransport({ listenInfos: [{ protocol: "udp", ip: "127.0.0.1" }] });
      const u = await w.getResourceUsage();
      console.error(`[build-worker] smoke OK: mediasoup ${ms.version}, worker pid ${w.pid}, ICE port ${t.iceCandidates[0].port}, maxrss ${u.ru_maxrss} KB`);
      w.close();
    })().catch((e) => { console.error(e); process.exit(1); });
  ' "$PKG_DIR" || die "smoke test failed"
fi
log "done in $(( $(date +%s) - T_START ))s. Use it with: MEDIASOUP_WORKER_BIN=$OUT"
