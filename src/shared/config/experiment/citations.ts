// Short citations of the papers the defaults come from, for the descriptions of the keys that follow them;
// the full titles are in the descriptions of `ssl.method`'s values.
export const MOCO_V2 = 'MoCo v2 [Chen et al., 2020]';
export const SIMCLR = 'SimCLR [Chen et al., ICML 2020]';
export const SIMSIAM = 'SimSiam [Chen & He, CVPR 2021]';
export const BYOL = 'BYOL [Grill et al., NeurIPS 2020]';
