/*
 * kyso-lockout: a PKCS#11 test module that gives SoftHSM2 a user-PIN retry counter.
 *
 * SoftHSM2 never locks a user PIN and never sets the CKF_USER_PIN_COUNT_LOW,
 * CKF_USER_PIN_FINAL_TRY or CKF_USER_PIN_LOCKED token flags, so a client's handling of
 * CKR_PIN_LOCKED and of "tries left" cannot be tested against it. This module sits in
 * front of the real module and behaves like a smart card does:
 *
 *   - C_Login(CKU_USER): after MAX consecutive wrong user PINs on a token, the token
 *     refuses every further user login with CKR_PIN_LOCKED (without asking the real
 *     module). The wrong tries themselves, the last one included, return
 *     CKR_PIN_INCORRECT as the real module said. A successful login resets the count.
 *   - C_GetTokenInfo: the real answer, with the three user-PIN flags set from the count:
 *     COUNT_LOW when 1 <= count < MAX, FINAL_TRY when count == MAX - 1, LOCKED when
 *     count >= MAX.
 *   - C_InitPIN: a successful reset of the user PIN by the security officer also
 *     resets the count, which is how a real token is unblocked.
 *
 * Every other function is the real module's, unchanged.
 *
 * The count lives in a file per token, named after the token's serial number, in the
 * folder KYSO_LOCKOUT_STATE, so it is shared by every process that loads the module
 * (each run of a command-line client is a new process). Without KYSO_LOCKOUT_STATE the
 * module is a pure pass-through (unless KYSO_LOCKOUT_HELD_PIN is set).
 *
 * Environment:
 *   KYSO_LOCKOUT_MODULE  the real module (default /usr/lib/softhsm/libsofthsm2.so)
 *   KYSO_LOCKOUT_STATE   folder of the counter files (created if missing); unset: no
 *                        counting at all
 *   KYSO_LOCKOUT_TRIES   wrong PINs before the lock, 1..1000 (default 3)
 *   KYSO_LOCKOUT_HELD_PIN  when set: before the process's first user login, the module
 *                        opens a session of its own on that token and logs it in with
 *                        this PIN, and keeps it open. PKCS#11 login state belongs to the
 *                        application, so the client's own C_Login then meets
 *                        CKR_USER_ALREADY_LOGGED_IN, as when another of its sessions
 *                        (a concurrent certificate listing, say) keeps a login alive.
 *
 * Read once, when the module is first asked for its function list.
 *
 * Build: cc -shared -fPIC -O2 -Wall -Wextra -Werror -I/usr/include/p11-kit-1 \
 *            -o lockout.so lockout.c -ldl
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define DEFAULT_TRIES 3UL
#define USER_PIN_FLAGS (CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED)

/* Room for a token serial (16 bytes) made safe for a file name, or "slot-<id>". */
#define KEY_LEN 40

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static CK_RV load_rv = CKR_GENERAL_ERROR;
static CK_FUNCTION_LIST_PTR real;   /* the real module's list */
static CK_FUNCTION_LIST wrapped;    /* what we hand out */

static pthread_mutex_t state_mutex = PTHREAD_MUTEX_INITIALIZER;
static char *state_dir;             /* NULL: pass-through */
static char *held_pin;              /* NULL: no login held */
static CK_SESSION_HANDLE held_session = CK_INVALID_HANDLE;
static unsigned long max_tries = DEFAULT_TRIES;

static void warn(const char *what, const char *detail)
{
    fprintf(stderr, "kyso-lockout: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
}

/* ---- the counter files -------------------------------------------------------------- */

/* The file-name key of a token: its serial, blanks trimmed, anything but [A-Za-z0-9._-]
 * replaced; "slot-<id>" for a token without a serial. */
static void token_key(const CK_TOKEN_INFO *info, CK_SLOT_ID slot, char key[KEY_LEN])
{
    size_t n = sizeof info->serialNumber;
    while (n > 0 && (info->serialNumber[n - 1] == ' ' || info->serialNumber[n - 1] == '\0'))
        n--;
    if (n == 0) {
        snprintf(key, KEY_LEN, "slot-%lu", (unsigned long)slot);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = info->serialNumber[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '-' || c == '_';
        key[i] = ok ? (char)c : '_';
    }
    key[n] = '\0';
}

/* Opens the counter file of `key` and locks it (LOCK_EX for writing, else LOCK_SH).
 * Returns the descriptor, or -1 with errno set (ENOENT: no file and create == 0). */
static int open_counter(const char *key, int create)
{
    char path[4096];
    int len = snprintf(path, sizeof path, "%s/%s.tries", state_dir, key);
    if (len < 0 || (size_t)len >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (create && mkdir(state_dir, 0700) != 0 && errno != EEXIST)
        return -1;
    int fd = create ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)
                    : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (flock(fd, create ? LOCK_EX : LOCK_SH) != 0) {
        if (errno != EINTR) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
    }
    return fd;
}

/* The count in an open counter file; an empty or unreadable file counts as 0. */
static unsigned long read_counter(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end;
    unsigned long v = strtoul(buf, &end, 10);
    return end == buf ? 0 : v;
}

static int write_counter(int fd, unsigned long v)
{
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%lu\n", v);
    if (ftruncate(fd, 0) != 0)
        return -1;
    return pwrite(fd, buf, (size_t)len, 0) == len ? 0 : -1;
}

/* The key of the token a session is open on, from the real module. */
static CK_RV session_token_key(CK_SESSION_HANDLE session, char key[KEY_LEN])
{
    CK_SESSION_INFO si;
    CK_TOKEN_INFO ti;
    CK_RV rv = real->C_GetSessionInfo(session, &si);
    if (rv != CKR_OK)
        return rv;
    rv = real->C_GetTokenInfo(si.slotID, &ti);
    if (rv != CKR_OK)
        return rv;
    token_key(&ti, si.slotID, key);
    return CKR_OK;
}

/* ---- the functions that differ from the real module's ------------------------------ */

/* Logs a session of our own in on the token of `session`, once per process (see
 * KYSO_LOCKOUT_HELD_PIN). */
static void hold_login(CK_SESSION_HANDLE session)
{
    pthread_mutex_lock(&state_mutex);
    CK_SESSION_INFO si;
    if (held_pin != NULL && held_session == CK_INVALID_HANDLE &&
        real->C_GetSessionInfo(session, &si) == CKR_OK &&
        real->C_OpenSession(si.slotID, CKF_SERIAL_SESSION, NULL, NULL, &held_session) == CKR_OK) {
        CK_RV rv = real->C_Login(held_session, CKU_USER, (CK_UTF8CHAR_PTR)held_pin,
                                 (CK_ULONG)strlen(held_pin));
        if (rv != CKR_OK)
            warn("KYSO_LOCKOUT_HELD_PIN did not log in", NULL);
    }
    pthread_mutex_unlock(&state_mutex);
}

static CK_RV lk_login(CK_SESSION_HANDLE session, CK_USER_TYPE user_type, CK_UTF8CHAR_PTR pin,
                      CK_ULONG pin_len)
{
    if (user_type == CKU_USER)
        hold_login(session);
    if (user_type != CKU_USER || state_dir == NULL)
        return real->C_Login(session, user_type, pin, pin_len);

    char key[KEY_LEN];
    CK_RV rv = session_token_key(session, key);
    if (rv != CKR_OK)
        return rv;

    pthread_mutex_lock(&state_mutex);
    int fd = open_counter(key, 1);
    if (fd < 0) {
        warn("cannot open the counter file", strerror(errno));
        pthread_mutex_unlock(&state_mutex);
        return CKR_GENERAL_ERROR;
    }
    /* The lock is held across the real login so that concurrent wrong tries from several
     * processes are all counted. */
    unsigned long wrong = read_counter(fd);
    if (wrong >= max_tries) {
        rv = CKR_PIN_LOCKED;
    } else {
        rv = real->C_Login(session, user_type, pin, pin_len);
        int failed = 0;
        if (rv == CKR_PIN_INCORRECT)
            failed = write_counter(fd, wrong + 1);
        else if ((rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) && wrong != 0)
            failed = write_counter(fd, 0);
        if (failed) {
            warn("cannot write the counter file", strerror(errno));
            rv = CKR_GENERAL_ERROR;
        }
    }
    close(fd);
    pthread_mutex_unlock(&state_mutex);
    return rv;
}

static CK_RV lk_get_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
    CK_RV rv = real->C_GetTokenInfo(slot, info);
    if (rv != CKR_OK || state_dir == NULL || info == NULL)
        return rv;

    char key[KEY_LEN];
    token_key(info, slot, key);
    unsigned long wrong = 0;
    pthread_mutex_lock(&state_mutex);
    int fd = open_counter(key, 0);
    if (fd >= 0) {
        wrong = read_counter(fd);
        close(fd);
    } else if (errno != ENOENT) {
        warn("cannot read the counter file", strerror(errno));
        rv = CKR_GENERAL_ERROR;
    }
    pthread_mutex_unlock(&state_mutex);
    if (rv != CKR_OK)
        return rv;

    info->flags &= ~(CK_FLAGS)USER_PIN_FLAGS;
    if (wrong >= max_tries)
        info->flags |= CKF_USER_PIN_LOCKED;
    else if (wrong >= 1)
        info->flags |= CKF_USER_PIN_COUNT_LOW;
    if (wrong + 1 == max_tries)
        info->flags |= CKF_USER_PIN_FINAL_TRY;
    return CKR_OK;
}

static CK_RV lk_init_pin(CK_SESSION_HANDLE session, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len)
{
    CK_RV rv = real->C_InitPIN(session, pin, pin_len);
    if (rv != CKR_OK || state_dir == NULL)
        return rv;

    char key[KEY_LEN];
    if (session_token_key(session, key) != CKR_OK)
        return rv;
    pthread_mutex_lock(&state_mutex);
    int fd = open_counter(key, 1);
    if (fd < 0 || write_counter(fd, 0) != 0) {
        warn("cannot reset the counter file", strerror(errno));
        rv = CKR_GENERAL_ERROR;
    }
    if (fd >= 0)
        close(fd);
    pthread_mutex_unlock(&state_mutex);
    return rv;
}

/* ---- loading ------------------------------------------------------------------------ */

static void load(void)
{
    const char *path = getenv("KYSO_LOCKOUT_MODULE");
    if (path == NULL || *path == '\0')
        path = DEFAULT_MODULE;

    const char *dir = getenv("KYSO_LOCKOUT_STATE");
    if (dir != NULL && *dir != '\0') {
        state_dir = strdup(dir);
        if (state_dir == NULL) {
            load_rv = CKR_HOST_MEMORY;
            return;
        }
    }

    const char *held = getenv("KYSO_LOCKOUT_HELD_PIN");
    if (held != NULL && *held != '\0') {
        held_pin = strdup(held);
        if (held_pin == NULL) {
            load_rv = CKR_HOST_MEMORY;
            return;
        }
    }

    const char *tries = getenv("KYSO_LOCKOUT_TRIES");
    if (tries != NULL && *tries != '\0') {
        char *end;
        unsigned long v = strtoul(tries, &end, 10);
        if (*end == '\0' && v >= 1 && v <= 1000)
            max_tries = v;
        else
            warn("KYSO_LOCKOUT_TRIES must be a number from 1 to 1000; using 3", NULL);
    }

    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        warn("cannot load the real module", dlerror());
        return;
    }
    void *sym = dlsym(lib, "C_GetFunctionList");
    if (sym == NULL) {
        warn("the real module has no C_GetFunctionList", path);
        return;
    }
    CK_C_GetFunctionList get_list;
    memcpy(&get_list, &sym, sizeof get_list);
    if (get_list == C_GetFunctionList) {
        warn("KYSO_LOCKOUT_MODULE names this module itself", path);
        return;
    }
    CK_RV rv = get_list(&real);
    if (rv != CKR_OK || real == NULL) {
        warn("the real module's C_GetFunctionList failed", path);
        load_rv = rv != CKR_OK ? rv : CKR_GENERAL_ERROR;
        return;
    }

    wrapped = *real;
    /* We hand out the 2.x list only, whatever the real module is. */
    if (wrapped.version.major != 2) {
        wrapped.version.major = 2;
        wrapped.version.minor = 40;
    }
    wrapped.C_GetFunctionList = C_GetFunctionList;
    wrapped.C_Login = lk_login;
    wrapped.C_GetTokenInfo = lk_get_token_info;
    wrapped.C_InitPIN = lk_init_pin;
    load_rv = CKR_OK;
}

__attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    if (list == NULL)
        return CKR_ARGUMENTS_BAD;
    pthread_once(&load_once, load);
    if (load_rv != CKR_OK)
        return load_rv;
    *list = &wrapped;
    return CKR_OK;
}
