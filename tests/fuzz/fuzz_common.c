/* libmixstage fuzzing: the scratch directory (see fuzz_common.h). */
#define _DEFAULT_SOURCE
#include "fuzz_common.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[4096];

/* Removes the directory tree at path (no symlinks are followed: the tree is
 * ours and lstat is used). */
static void remove_tree(const char *path) {
  struct stat sb;
  if (lstat(path, &sb) != 0) return;
  if (S_ISDIR(sb.st_mode)) {
    DIR *d = opendir(path);
    if (d) {
      struct dirent *e;
      while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char sub[4096];
        if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) < (int)sizeof sub) remove_tree(sub);
      }
      closedir(d);
    }
    rmdir(path);
  } else {
    unlink(path);
  }
}

static void cleanup(void) {
  if (scratch[0]) remove_tree(scratch);
}

const char *fuzz_scratch_dir(void) {
  if (scratch[0]) return scratch;
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp) tmp = "/tmp";
  char templ[4096];
  if (snprintf(templ, sizeof templ, "%s/mixstage-fuzz-XXXXXX", tmp) >= (int)sizeof templ) return NULL;
  if (!mkdtemp(templ)) return NULL;
  memcpy(scratch, templ, strlen(templ) + 1);
  atexit(cleanup);
  return scratch;
}
