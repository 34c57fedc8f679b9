/* The embedder's C contract without fixtures: parameter defaults, argument checks, and the
 * ATL_ERR_FORMAT message that lists every problem of a weight set that does not fit.
 * Parity with torchvision is tested from Java against the reference fixtures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atelier.h"
#include "test_util.h"

int main(void) {
    atl_embedder_params p;
    memset(&p, 0x7f, sizeof p);
    atl_embedder_params_init(&p);
    CHECK(p.fold_batchnorm == 1);
    CHECK(p.num_threads == 1);
    CHECK(p.channels_last == 1);

    atl_embedder* e = (atl_embedder*)0x1;
    atl_status* s = atl_embedder_create(NULL, &p, &e);
    CHECK(atl_status_code(s) == ATL_ERR_INVALID_ARGUMENT);
    CHECK(e == NULL);
    atl_status_destroy(s);

    /* An empty weight set: every tensor is reported missing, the list is cut after 20. */
    atl_weights* w = NULL;
    CHECK(atl_weights_create(&w) == NULL);
    s = atl_embedder_create(w, NULL, &e);
    CHECK(atl_status_code(s) == ATL_ERR_FORMAT);
    const char* msg = atl_status_message(s);
    CHECK(strstr(msg, "MobileNetV3-Large") != NULL);
    CHECK(strstr(msg, "missing tensor features.0.0.weight [16, 3, 3, 3]") != NULL);
    CHECK(strstr(msg, "more") != NULL);
    atl_status_destroy(s);

    /* A tensor of the wrong shape is named with both shapes. */
    float stem[16 * 3 * 5 * 5] = {0};
    atl_tensor_view v;
    memset(&v, 0, sizeof v);
    v.data = stem;
    v.dtype = ATL_DTYPE_F32;
    v.ndim = 4;
    v.shape[0] = 16; v.shape[1] = 3; v.shape[2] = 5; v.shape[3] = 5;
    v.strides[0] = 75; v.strides[1] = 25; v.strides[2] = 5; v.strides[3] = 1;
    CHECK(atl_weights_add(w, "features.0.0.weight", &v) == NULL);
    s = atl_embedder_create(w, NULL, &e);
    CHECK(atl_status_code(s) == ATL_ERR_FORMAT);
    CHECK(strstr(atl_status_message(s), "features.0.0.weight: shape [16, 3, 5, 5], expected [16, 3, 3, 3]") != NULL);
    atl_status_destroy(s);
    atl_weights_destroy(w);

    atl_embedder_destroy(NULL);
    CHECK(atl_embedder_pooled_dim(NULL) == 0);
    s = atl_embedder_forward(NULL, NULL, NULL, NULL, NULL);
    CHECK(atl_status_code(s) == ATL_ERR_INVALID_ARGUMENT);
    atl_status_destroy(s);

    return test_result("test_embedder");
}
