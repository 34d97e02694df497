/* Helpers shared by the file-backed sources (internal). */
#ifndef MEDFM_DATA_SOURCE_FILES_H
#define MEDFM_DATA_SOURCE_FILES_H

#include "medfm/data.h"

/* NIfTI (.nii, .nii.gz) -> (1, D, H, W) (RAS canonical); PNG/JPEG -> (C, H, W). */
mf_status mf_load_image_file(const char *path, mf_tensor **out);
/* Label maps: NIfTI -> (D, H, W); single-channel PNG -> (H, W). */
mf_status mf_load_mask_file(const char *path, mf_tensor **out);
bool mf_path_is_nifti(const char *path);
/* dir + rel unless rel is absolute (caller frees). */
char *mf_path_join(const char *dir, const char *rel);

#endif
